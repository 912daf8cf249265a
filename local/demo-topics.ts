/**
 * Topics the demo page (local/public/app.ts) follows. `npm start` keeps their history, so a
 * back office reopened after a while gets the topic orders it missed (PUSH_TOPIC_HISTORY overrides).
 */
export const DEMO_TOPIC_HISTORY: readonly string[] = ['orders', 'orders.*'];
