/**
 * The demo: a merchant back office alerted in real time to new orders, plus a customer panel that
 * places them. It talks to the local stack only through its public surface: `GET /dev/token`,
 * `POST /publish` and the WebSocket at `/local`, through the push client library.
 *
 * `?uid=merchant-2` picks the merchant (default `merchant-1`); `?view=customer` shows only the
 * customer panel.
 *
 * The back office follows the README's recipe: load the state, then apply pushes from where that
 * state stands. Its "API" is localStorage: the orders shown, together with the client's `seq` (the
 * merchant's own stream) and `seqOf('orders')` (the topic's), saved after every order. A reload
 * shows the saved orders without alerting again, and the client resumes both streams from the saved
 * seqs, so only what was published while the page was closed arrives, and is alerted. Each seq is
 * saved with its stream's epoch: after `npm start` restarts with an empty log, the streams count
 * from 1 again in new epochs, and the resume answers `gap` and brings the new orders instead of
 * taking them for ones already shown.
 */
import { createPushClient, type PushClient, type PushStatus } from '../../client/index';

/** An order, as the customer panel publishes it. */
interface Order {
  readonly number: string;
  readonly customer: string;
  readonly item: string;
  readonly quantity: number;
  readonly total: number;
  readonly placedAt: number;
}

/** The `data` of every push this demo sends. */
interface OrderPlaced {
  readonly kind: 'order.placed';
  readonly order: Order;
}

const ORDERS_TOPIC = 'orders';
const TOAST_MS = 6000;
/** Orders the back office keeps across reloads; older ones fall off. */
const KEPT_ORDERS = 50;

/** An order on the merchant's screen, as saved across reloads. */
interface ShownOrder {
  readonly order: Order;
  /** The topic it came through, if not sent to the merchant's uid. */
  readonly topic?: string;
  /** Not marked as seen yet. */
  isNew: boolean;
}

/** What the back office saves after every order: the state and where each stream stands in it. */
interface SavedState {
  /** The client's `seq`: every message to the merchant's uid up to here is in `orders`. */
  readonly seq: number;
  /** The client's `epoch`: the one `seq` counts in. */
  readonly epoch?: string;
  /** Per topic with history, the client's `seqOf(topic)`. */
  readonly topics: Readonly<Record<string, number>>;
  /** Per topic with history, the client's `epochOf(topic)`. */
  readonly epochs?: Readonly<Record<string, string>>;
  /** Oldest first. */
  readonly orders: readonly ShownOrder[];
}
const STATUS_LABELS: Record<PushStatus, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

const params = new URLSearchParams(location.search);
const merchantUid = params.get('uid') || 'merchant-1';
const view = params.get('view') === 'customer' ? 'customer' : 'merchant';
const money = new Intl.NumberFormat('en-IE', { style: 'currency', currency: 'EUR' });
const baseTitle = document.title;

/** The element with a `data-testid`; the page is static, so a missing one is a bug. */
function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!element) throw new Error(`missing element [data-testid="${id}"]`);
  return element;
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
}

function initials(name: string): string {
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => word[0]?.toUpperCase() ?? '');
  return (letters.slice(0, 2).join('') || '?').slice(0, 2);
}

function isOrderPlaced(data: unknown): data is OrderPlaced {
  return (
    typeof data === 'object' &&
    data !== null &&
    (data as { kind?: unknown }).kind === 'order.placed' &&
    typeof (data as { order?: unknown }).order === 'object'
  );
}

document.body.dataset.view = view;
if (view === 'customer') byTestId('brand-subtitle').textContent = 'Order online';
byTestId('store-uid').textContent = merchantUid;
byTestId('route-uid-label').textContent = merchantUid;
byTestId<HTMLAnchorElement>('customer-link').href = `?view=customer&uid=${encodeURIComponent(merchantUid)}`;

if (view === 'merchant') startMerchant();
startCustomer();

/** The saved state of this merchant's back office, or undefined on a first visit (or a broken entry). */
function loadState(key: string): SavedState | undefined {
  try {
    const state = JSON.parse(localStorage.getItem(key) ?? 'null') as SavedState | null;
    if (state === null || !Number.isSafeInteger(state.seq) || !Array.isArray(state.orders)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}

/** The back office: saved orders first, then one push client resuming from where they stand. */
function startMerchant(): void {
  const status = byTestId('connection-status');
  const list = byTestId<HTMLUListElement>('order-list');
  const empty = byTestId('orders-empty');
  const badge = byTestId('new-orders-badge');
  const toasts = byTestId('toasts');
  const template = document.querySelector<HTMLTemplateElement>('#order-template');
  if (!template) throw new Error('missing #order-template');
  const statNew = byTestId('stat-new');
  const statCount = byTestId('stat-count');
  const statRevenue = byTestId('stat-revenue');
  const storageKey = `push-demo:${merchantUid}`;
  const saved = loadState(storageKey);
  const shown: ShownOrder[] = [...(saved?.orders ?? [])];
  let revenue = 0;

  byTestId('merchant-uid').textContent = merchantUid;

  const showCounts = () => {
    const unseen = shown.filter((entry) => entry.isNew).length;
    badge.textContent = String(unseen);
    badge.hidden = unseen === 0;
    statNew.textContent = String(unseen);
    statCount.textContent = String(shown.length);
    statRevenue.textContent = money.format(revenue);
    empty.hidden = shown.length > 0;
    document.title = unseen === 0 ? baseTitle : `(${unseen}) ${baseTitle}`;
  };

  /** Adds a card on top; `restored` cards come from the saved state and were alerted before. */
  const addCard = ({ order, topic, isNew }: ShownOrder, restored: boolean) => {
    const card = template.content.firstElementChild?.cloneNode(true) as HTMLLIElement;
    card.dataset.orderNumber = order.number;
    card.dataset.new = String(isNew);
    card.dataset.restored = String(restored);
    const set = (selector: string, text: string) => {
      const element = card.querySelector(selector);
      if (element) element.textContent = text;
    };
    set('.avatar', initials(order.customer));
    set('.order-customer', order.customer);
    set('.order-number', `#${order.number}`);
    set('.order-items', `${order.quantity} × ${order.item}`);
    set('.order-total', money.format(order.total));
    const time = new Date(order.placedAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    set('.order-meta', `${time} · ${topic ? `topic ${topic}` : 'direct'}`);
    list.prepend(card);
    revenue += order.total;
  };

  for (const entry of shown) addCard(entry, true);
  showCounts();

  const client: PushClient<OrderPlaced> = createPushClient<OrderPlaced>({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/local`,
    // Called again before every reconnect, so an expired token is replaced by a fresh one.
    token: async () => {
      const query = new URLSearchParams({ uid: merchantUid, topics: `${ORDERS_TOPIC},${ORDERS_TOPIC}.*` });
      const response = await fetch(`/dev/token?${query}`);
      if (response.status === 403) {
        // The stack has a secret of its own (PUSH_TOKEN_SECRET), so /dev/token will never sign:
        // say so on the page and stop, instead of retrying behind "Connecting…" forever.
        byTestId('token-banner').hidden = false;
        client.close();
        throw new Error('/dev/token is off: the stack was started with PUSH_TOKEN_SECRET');
      }
      if (!response.ok) throw new Error(`token request failed with ${response.status}`);
      return ((await response.json()) as { token: string }).token;
    },
    // Where the saved orders stand; on a first visit, everything the server still keeps.
    ...(saved === undefined ? {} : { since: saved.seq }),
    ...(saved?.epoch === undefined ? {} : { epoch: saved.epoch }),
  });

  const save = () => {
    const topicSeq = client.seqOf(ORDERS_TOPIC);
    const topicEpoch = client.epochOf(ORDERS_TOPIC);
    const state: SavedState = {
      seq: client.seq,
      ...(client.epoch === undefined ? {} : { epoch: client.epoch }),
      topics: topicSeq === undefined ? {} : { [ORDERS_TOPIC]: topicSeq },
      epochs: topicEpoch === undefined ? {} : { [ORDERS_TOPIC]: topicEpoch },
      orders: shown.slice(-KEPT_ORDERS),
    };
    localStorage.setItem(storageKey, JSON.stringify(state));
  };

  client.on('status', (state) => {
    status.dataset.status = state;
    status.textContent = STATUS_LABELS[state];
  });
  client.on('message', (message) => {
    if (!isOrderPlaced(message.data)) return;
    const entry: ShownOrder = {
      order: message.data.order,
      ...(message.topic === undefined ? {} : { topic: message.topic }),
      isNew: true,
    };
    shown.push(entry);
    addCard(entry, false);
    showCounts();
    showToast(toasts, entry.order);
    save();
  });
  client.on('gap', () => {
    byTestId('gap-banner').hidden = false;
  });
  client.on('error', (error) => console.warn(`[push] ${error.code}: ${error.message}`));
  // The topic resumes from the saved seq too; on a first visit from 0, like the merchant's own stream.
  const topicEpoch = saved?.epochs?.[ORDERS_TOPIC];
  client.subscribe(ORDERS_TOPIC, {
    since: saved?.topics[ORDERS_TOPIC] ?? 0,
    ...(topicEpoch === undefined ? {} : { epoch: topicEpoch }),
  });

  byTestId('mark-seen').addEventListener('click', () => {
    for (const card of list.querySelectorAll<HTMLElement>('[data-new="true"]')) card.dataset.new = 'false';
    for (const entry of shown) entry.isNew = false;
    showCounts();
    save();
  });
  addEventListener('pagehide', () => client.close());
}

function showToast(container: HTMLElement, order: Order): void {
  const toast = document.createElement('div');
  toast.className = 'toast';
  toast.dataset.testid = 'toast';
  const icon = document.createElement('div');
  icon.className = 'toast-icon';
  icon.textContent = '✓';
  const body = document.createElement('div');
  const title = document.createElement('strong');
  title.textContent = `New order #${order.number}`;
  const detail = document.createElement('span');
  detail.textContent = `${order.customer} · ${order.quantity} × ${order.item} · ${money.format(order.total)}`;
  body.append(title, detail);
  toast.append(icon, body);
  container.append(toast);
  setTimeout(() => toast.remove(), TOAST_MS);
}

/** The customer panel: builds an order and publishes it to the merchant's uid or the topic. */
function startCustomer(): void {
  const form = byTestId<HTMLFormElement>('order-form');
  const result = byTestId('publish-result');
  const button = byTestId<HTMLButtonElement>('place-order');

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const [item = 'Item', price = '0'] = String(fields.get('item')).split('|');
    const quantity = Math.max(1, Math.min(20, Number(fields.get('quantity')) || 1));
    const order: Order = {
      number: String(1000 + Math.floor(Math.random() * 9000)),
      customer: String(fields.get('customer') || 'Guest').trim() || 'Guest',
      item,
      quantity,
      total: Math.round(Number(price) * quantity * 100) / 100,
      placedAt: Date.now(),
    };
    const to = fields.get('route') === 'topic' ? { topic: ORDERS_TOPIC } : { uid: merchantUid };
    const data: OrderPlaced = { kind: 'order.placed', order };
    button.disabled = true;
    result.dataset.outcome = 'pending';
    result.textContent = 'Placing order…';
    try {
      const response = await fetch('/publish', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to, data, id: `order-${order.number}-${randomHex(6)}` }),
      });
      const body = (await response.json()) as {
        delivered?: number;
        stored?: number;
        error?: { message?: string };
      };
      if (!response.ok) throw new Error(body.error?.message ?? `publish failed with ${response.status}`);
      const delivered = body.delivered ?? 0;
      result.dataset.outcome = 'ok';
      if (delivered > 0) {
        result.textContent = `Order #${order.number} placed · alerted ${delivered} open ${delivered === 1 ? 'screen' : 'screens'}.`;
      } else if (body.stored) {
        result.textContent = `Order #${order.number} placed. The merchant is offline and will see it when they are back.`;
      } else {
        result.textContent = `Order #${order.number} placed, but no merchant screen is listening right now.`;
      }
    } catch (error) {
      result.dataset.outcome = 'error';
      result.textContent = `Could not place the order: ${(error as Error).message}`;
    } finally {
      button.disabled = false;
    }
  });
}
