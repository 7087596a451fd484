// A reference client for host/tests/fanout.rs: Node's `ws` as a browser-like
// client, offering permessage-deflate (with context takeover, as browsers
// do), so a second, independent implementation inflates what the host
// compresses. Usage: node client.js URL. Prints "open EXTENSIONS" once
// connected, then one JSON line per message received ({"binary": bool,
// "data": text, or base64 when binary}); reads one JSON line per message to
// send from stdin (the same shape), and exits when stdin ends.
const readline = require('readline');
const WebSocket = require('ws');

const socket = new WebSocket(process.argv[2], {
  perMessageDeflate: true,
  maxPayload: 64 << 20,
});

socket.on('open', () => {
  console.log(`open ${socket.extensions}`);
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const message = JSON.parse(line);
    if (message.binary) {
      socket.send(Buffer.from(message.data, 'base64'), { binary: true });
    } else {
      socket.send(message.data, { binary: false });
    }
  });
});

socket.on('message', (data, isBinary) => {
  const line = isBinary
    ? { binary: true, data: data.toString('base64') }
    : { binary: false, data: data.toString('utf8') };
  console.log(JSON.stringify(line));
});

socket.on('close', (code) => {
  console.log(JSON.stringify({ closed: code }));
  process.exit(0);
});
socket.on('error', (error) => {
  console.log(JSON.stringify({ error: String(error) }));
  process.exit(1);
});
process.stdin.on('end', () => process.exit(0));
