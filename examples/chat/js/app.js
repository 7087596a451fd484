// Chat: one room, the JavaScript twin of examples/chat/rust, with the same
// wire protocol. A client joins with `?name=...`; each text it sends goes to
// everyone else as {"type":"message","from":NAME,"text":TEXT}, and everyone
// hears {"type":"join",...} and {"type":"leave",...} notices. No name: HTTP
// 400 before the upgrade. `/quit` closes the connection (1000, "goodbye").
// A client offering the subprotocol `chat.v1` gets it confirmed.
//
// The member list lives in guest memory; `snapshot` and `restore` hand it
// to the next version during a hot swap, so everyone stays in the room.

import {
  accept, app, broadcastJson, close, CloseCode, json, log, queryParam, reject, sendJson,
} from "switchboard";

// Names longer than this are refused, so one client cannot flood the room's
// notices with a huge name.
const MAX_NAME_CHARS = 64;
const SUBPROTOCOL = "chat.v1";

// connection id (BigInt) -> name
let names = new Map();

export const { handler, lifecycle, presence } = app({
  onOpen(connection, request) {
    const name = (queryParam(request, "name") ?? "").trim();
    if (!name) return reject(400, "join with ?name=YOUR_NAME");
    if ([...name].length > MAX_NAME_CHARS) return reject(400, "that name is too long");
    sendJson(connection, { type: "welcome", name, members: [...names.values()] });
    broadcastJson({ type: "join", name }, [connection]);
    log.info(`${name} joined`);
    names.set(connection, name);
    return accept(request.subprotocols.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined);
  },

  onMessage(connection, message) {
    const from = names.get(connection);
    if (from === undefined) return;
    if (message.tag !== "text") {
      sendJson(connection, { type: "error", text: "chat messages are text" });
      return;
    }
    if (message.val.trim() === "/quit") {
      // onClose follows once the closing handshake is done.
      close(connection, CloseCode.Normal, "goodbye");
      return;
    }
    broadcastJson({ type: "message", from, text: message.val }, [connection]);
  },

  onClose(connection) {
    const name = names.get(connection);
    if (name === undefined) return;
    names.delete(connection);
    log.info(`${name} left`);
    broadcastJson({ type: "leave", name });
  },

  // The room as JSON, the same shape the Rust chat uses:
  // {"members": [[connection, name], ...]}, so versions in either language
  // can take over from each other.
  snapshot() {
    return json.encode({ members: [...names].map(([id, name]) => [Number(id), name]) });
  },

  restore(snapshot) {
    /** @type {{members: [number, string][]}} */
    const room = json.decode(snapshot);
    if (!Array.isArray(room.members)) throw new Error("not a chat snapshot");
    names = new Map(room.members.map(([id, name]) => [BigInt(id), name]));
    log.info(`took over a room of ${names.size} from the previous version`);
  },
});
