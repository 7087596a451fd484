// Chat rooms: the JavaScript twin of examples/rooms/rust, with the same wire
// protocol (its doc comment describes it), the same bytes on the wire and
// the same keys and values in the key-value store. Many rooms, each a topic.
// The app keeps nothing in its own memory: who is in a room is the host's
// presence, each client's name is attached to its connection, and what was
// said is kept by the host twice: each room's last 50 messages in the app's
// key-value store, for the scrollback (across a host restart too), and the
// topic's history, for catching up a client that lost its connection. A
// hot swap or a trap therefore loses nothing, and needs no snapshot.
//
// In short: connect with `?name=NAME`, then send JSON:
// {"type":"join","room":R} (or with "since":{"epoch":E,"offset":N} to come
// back after a lost connection), {"type":"message","room":R,"text":T},
// {"type":"typing","room":R}, {"type":"leave","room":R}.

import {
  accept, app, attachment, kv, KvFailed, log, members, publish, queryParam, reject, send,
  setAttachment, subscribe, subscriptions, TopicFailed, unsubscribe, utf8Decode,
} from "switchboard";

// Names longer than this are refused, so one client cannot flood a room's
// notices with a huge name.
const MAX_NAME_CHARS = 64;
// Room names are short words: letters, digits, `-` and `_`. StarlingMonkey
// has no Unicode tables for regular expressions (`\p{L}` is a syntax error),
// so past ASCII any character but a space or a control counts as a letter
// here; the Rust and Python twins ask Unicode.
const MAX_ROOM_CHARS = 32;
const ROOM_CHARS = /^(?:[A-Za-z0-9_-]|[^\u0000-\u007f\s\u0080-\u009f])+$/u;
// Messages a joining client is shown from before it joined: how many each
// room keeps in the key-value store.
const SCROLLBACK = 50;

const roomTopic = (room) => `room:${room}`;
const typingTopic = (room) => `typing:${room}`;

function validRoom(room) {
  const chars = [...room].length;
  return chars > 0 && chars <= MAX_ROOM_CHARS && ROOM_CHARS.test(room);
}

// The Rust twin's serde_json writes object keys sorted; so does this, so
// every language sends the same bytes.
function sorted(value) {
  if (Array.isArray(value)) return value.map(sorted);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted(value[key])]));
  }
  return value;
}
const toText = (value) => JSON.stringify(sorted(value));

// The name a connection joined with, kept by the host.
function nameOf(connection) {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(attachment(connection));
  } catch {
    return "";
  }
}

function error(connection, text) {
  send(connection, toText({ type: "error", text }));
}

function memberNames(topic) {
  return members(topic)
    .map((member) => member.infoText())
    .filter((name) => name !== undefined);
}

// Publish `message` to room `room` and keep it as the room's latest.
function say(room, message) {
  publish(roomTopic(room), toText(message));
  try {
    remember(room, message);
  } catch (failed) {
    if (!(failed instanceof KvFailed)) throw failed;
    log.warn(`room ${room}: a message was not kept: ${failed.error}`);
  }
}

// Keep `message` in the room's ring: numbered by the room's counter, in the
// slot of that number (`said:R:00` to `said:R:49`), over the message 50
// before it.
function remember(room, message) {
  const n = kv.increment(`count:${room}`);
  const slot = String(n % BigInt(SCROLLBACK)).padStart(2, "0");
  kv.setJson(`said:${room}:${slot}`, { n, message });
}

// The room's last messages, oldest first, each the JSON that was published.
function scrollback(connection, room) {
  const said = [];
  try {
    for (const { value } of kv.list(`said:${room}:`, { limit: SCROLLBACK })) {
      try {
        said.push(JSON.parse(utf8Decode(value)));
      } catch {
        // Not JSON: not one of ours, left out.
      }
    }
  } catch (failed) {
    if (!(failed instanceof KvFailed)) throw failed;
    log.warn(`room ${room}: the scrollback cannot be read: ${failed.error}`);
  }
  said.sort((a, b) => a.n - b.n);
  send(connection, toText({ type: "scrollback", room, messages: said.map((kept) => kept.message) }));
}

function describe(failed) {
  switch (failed.error) {
    case "too-many-topics":
      return "you are in too many rooms; leave one first";
    case "info-too-large":
      return "that name is too long";
    case "invalid-topic":
      return "that room name is not allowed";
    default:
      return "you are disconnected";
  }
}

// A position as a client sends it back: {"epoch": string, "offset": integer}.
function isPosition(since) {
  return (
    since !== null &&
    typeof since === "object" &&
    typeof since.epoch === "string" &&
    Number.isInteger(since.offset) &&
    since.offset >= 0
  );
}

// What a client sends, checked as strictly as the Rust twin's serde types:
// the command, or undefined.
function parse(text) {
  let command;
  try {
    command = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (command === null || typeof command !== "object" || typeof command.room !== "string") {
    return undefined;
  }
  switch (command.type) {
    case "join":
      return command.since === undefined || command.since === null || isPosition(command.since)
        ? command
        : undefined;
    case "message":
      return typeof command.text === "string" ? command : undefined;
    case "typing":
    case "leave":
      return command;
    default:
      return undefined;
  }
}

function join(connection, room, since) {
  if (!validRoom(room)) {
    return error(connection, "room names are 1-32 letters, digits, - or _");
  }
  const name = nameOf(connection);
  const resuming = since !== undefined && since !== null;
  if (!resuming) {
    // Scrollback first: nothing can be published between it and the
    // subscription, so the client misses nothing in between.
    scrollback(connection, room);
  }
  let subscription;
  try {
    subscription = subscribe(connection, roomTopic(room), {
      info: name,
      since: resuming ? since : undefined,
    });
    if (resuming && !subscription.recovered) {
      // Too late to catch up: start the client over.
      scrollback(connection, room);
    }
    subscribe(connection, typingTopic(room), { info: name });
  } catch (failed) {
    if (failed instanceof TopicFailed) return error(connection, describe(failed));
    throw failed;
  }
  send(
    connection,
    toText({
      type: "joined",
      room,
      position: {
        epoch: subscription.position.epoch,
        offset: Number(subscription.position.offset),
      },
      recovered: subscription.recovered,
      members: memberNames(roomTopic(room)),
    }),
  );
}

const inRoom = (connection, room) => subscriptions(connection).includes(roomTopic(room));

export default app({
  onOpen(connection, request) {
    const name = (queryParam(request, "name") ?? "").trim();
    if (!name) return reject(400, "join with ?name=YOUR_NAME");
    if ([...name].length > MAX_NAME_CHARS) return reject(400, "that name is too long");
    if (setAttachment(connection, name) !== undefined) return reject(400, "that name is too long");
    return accept();
  },

  onMessage(connection, message) {
    if (message.tag !== "text") return error(connection, "messages are JSON text");
    const command = parse(message.val);
    if (command === undefined) {
      return error(
        connection,
        'send {"type": "join" | "message" | "typing" | "leave", "room": ...}',
      );
    }
    const { room } = command;
    switch (command.type) {
      case "join":
        return join(connection, room, command.since);
      case "message":
        if (!inRoom(connection, room)) return error(connection, "join the room first");
        say(room, { type: "message", room, from: nameOf(connection), text: command.text });
        return;
      case "typing":
        if (inRoom(connection, room)) {
          publish(typingTopic(room), toText({ type: "typing", room, name: nameOf(connection) }));
        }
        return;
      case "leave":
        unsubscribe(connection, roomTopic(room));
        unsubscribe(connection, typingTopic(room));
        return;
    }
  },

  // Everyone in the room hears who came in: a notice said in the room, so
  // it is in its scrollback and history too.
  onJoin(topic, member) {
    const name = member.infoText();
    if (topic.startsWith("room:") && name !== undefined) {
      const room = topic.slice("room:".length);
      say(room, { type: "join", room, name });
    }
  },

  onLeave(topic, member) {
    const name = member.infoText();
    if (topic.startsWith("room:") && name !== undefined) {
      const room = topic.slice("room:".length);
      say(room, { type: "leave", room, name });
    }
  },
});
