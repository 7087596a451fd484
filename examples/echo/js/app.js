// Echo: every message comes back to its sender, text as text, binary as
// binary. The JavaScript twin of examples/echo/rust.

import { app, send } from "switchboard";

export default app({
  onMessage(connection, message) {
    send(connection, message);
  },
});
