/**
 * Scenario s's baseline: the smallest WebSocket server, started by `npm start` of a throwaway
 * project (npm-start.ts, bareNpmStart). Listens on a free port and prints its URL. Plain
 * JavaScript, as `npm start` runs ours from a compiled build.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const server = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('error', () => {}));
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`bare ws server on ws://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
