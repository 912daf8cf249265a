/**
 * A publish whose id claim was written but whose answer was lost on the way back: the handler's
 * DynamoDB client sends the same conditional PutItem again, and the claim it wrote refuses it.
 * The publish must know that claim for its own. Taken for another attempt's, it was refused as
 * "still running" until the claim's deadline (about 65 s), past Lambda's first async retry, so an
 * SNS publish was delivered only on its third attempt (found by the attacker helper).
 */
import { describe, expect, it } from 'vitest';
import { connect, postJson, useFaultProxyStack } from './helpers';

const { stack, proxy } = useFaultProxyStack();

describe('a publish whose id claim was stored but not answered', () => {
  it('takes the claim it wrote for its own, and delivers at once', async () => {
    const socket = await connect(stack, 'lost-answer');
    let lost = 0;
    proxy.faults.plan = ({ operation, body }) => {
      if (operation === 'PutItem' && body.includes('"lost-claim-1"') && lost === 0) {
        lost += 1;
        return 'lost';
      }
      return undefined;
    };
    try {
      const answer = await postJson(stack, '/publish', {
        to: { uid: 'lost-answer' },
        data: 1,
        id: 'lost-claim-1',
      });
      expect(lost).toBe(1);
      expect(answer).toEqual({
        status: 200,
        body: { id: 'lost-claim-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
      });
      expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'lost-claim-1', seq: 1, data: 1 });
      // The id is the publish's as ever: a repeat answers its result and sends nothing.
      const repeat = await postJson(stack, '/publish', {
        to: { uid: 'lost-answer' },
        data: 1,
        id: 'lost-claim-1',
      });
      expect(repeat).toEqual(answer);
      expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 1 });
    } finally {
      proxy.faults.plan = undefined;
    }
  });
});
