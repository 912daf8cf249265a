/**
 * The floor for scenario a: a bare push server, run as its own process the way `npm start` is.
 * `ws` and `node:http`, nothing else: `POST /publish {"to":{"uid":U},"data":…,"id":I}` sends
 * `{"type":"message","id":I,"data":…,"ts":…}` to every socket that opened with `?uid=U`, and
 * answers `{"delivered":n}`. No database, no authorizer, no log: what any push costs on this
 * machine between two processes. Forked with worker.ts; ready with its port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { serveWorker } from './worker';

const byUid = new Map<string, Set<WebSocket>>();
const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  const body = JSON.parse(Buffer.concat(await req.toArray()).toString('utf8'));
  const frame = JSON.stringify({ type: 'message', id: body.id, data: body.data, ts: Date.now() });
  const sockets = byUid.get(body.to.uid) ?? new Set();
  for (const ws of sockets) ws.send(frame);
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ delivered: sockets.size }));
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const uid = new URL(req.url ?? '/', 'http://localhost').searchParams.get('uid') ?? '';
  const sockets = byUid.get(uid) ?? new Set();
  byUid.set(uid, sockets.add(ws));
  ws.on('error', () => {});
  ws.on('close', () => sockets.delete(ws));
});
server.keepAliveTimeout = 5_000;
serveWorker(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { ready: (server.address() as AddressInfo).port };
});
