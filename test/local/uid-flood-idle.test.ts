/**
 * A uid closed for flooding `$default` loses every connection it holds, also those that sent
 * nothing: `$default` lists them through the uid index, which its role must be allowed to query
 * (the local stack enforces the template's IAM policies, as AWS does). Small allowances from the
 * CDK app's props, so two connections flood the uid's allowance before either meets its own.
 */
import { describe, expect, it } from 'vitest';
import { connect, type TestSocket, useTestStack, WAIT_MS } from './helpers';

const ALLOWANCE = {
  maxSubscriptions: 3,
  maxConnectionsPerUid: 3,
  frameBurst: 6,
  framesPerSecond: 1,
  frameRefusalsToClose: 4,
  uidFrameBurst: 6,
  uidFramesPerSecond: 1,
};

const stack = useTestStack({ cdk: { props: ALLOWANCE } });

/** Pings on `sockets` in turn, one more for every answer, until each of them has closed. */
async function flood(sockets: readonly TestSocket[]): Promise<void> {
  let turn = 0;
  const sendNext = () => {
    for (let tries = 0; tries < sockets.length; tries++) {
      const socket = sockets[turn++ % sockets.length] as TestSocket;
      if (socket.ws.readyState === socket.ws.OPEN) {
        socket.ws.send('{"action":"ping"}');
        return;
      }
    }
  };
  for (const socket of sockets) socket.ws.on('message', sendNext);
  for (let i = 0; i < 2 * sockets.length; i++) sendNext();
  await Promise.all(sockets.map((socket) => socket.waitForClose(WAIT_MS * 4)));
}

describe('a uid closed for flooding over some of its connections', () => {
  it('loses the connections that sent nothing as well', async () => {
    const idle = await connect(stack, 'spread');
    const flooders = [await connect(stack, 'spread'), await connect(stack, 'spread')];

    await flood(flooders);

    // Closed by the Management API (1000) with the flooders, not left open beside them.
    expect(await idle.waitForClose()).toMatchObject({ code: 1000 });
  });
});
