/**
 * A uid closed for flooding `$default` loses every connection it holds, also those that sent
 * nothing: `$default` lists them through the uid index, which its role must be allowed to query
 * (the local stack enforces the template's IAM policies, as AWS does). Small allowances from the
 * CDK app's props, so two connections flood the uid's allowance before either meets its own.
 */
import { describe, expect, it } from 'vitest';
import { connect, floodInTurn, useTestStack } from './helpers';

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

describe('a uid closed for flooding over some of its connections', () => {
  it('loses the connections that sent nothing as well', async () => {
    const idle = await connect(stack, 'spread');
    const flooders = [await connect(stack, 'spread'), await connect(stack, 'spread')];

    await floodInTurn(flooders);

    // Closed by the Management API (1000) with the flooders, not left open beside them.
    expect(await idle.waitForClose()).toMatchObject({ code: 1000 });
  });
});
