// The reference server for host/tests/conformance.rs: Node's `ws`, one of the
// most used WebSocket servers, as an echo server with the same limits as the
// host under test (1 MiB messages, permessage-deflate offered). Run by the
// test harness; prints "listening on PORT" once bound to 127.0.0.1.
const { WebSocketServer } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 1 << 20,
  perMessageDeflate: { threshold: 0 },
});

server.on('listening', () => {
  console.log(`listening on ${server.address().port}`);
});

server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => {});
});

// Stop with the test: when our stdin closes, the harness is gone.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
