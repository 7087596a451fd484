//! A shared board where everyone's cursor moves live. Every connection is
//! a member of topic `board` (no history: a cursor's past is of no use);
//! its name is its presence info, and its member id, name and last position
//! are attached to its connection, all held by the host. So the app keeps nothing in its own
//! memory, a newcomer is shown where everyone's cursor is, and a client
//! that leaves disappears from every board (`on_leave`). A move costs one
//! read and one write of the connection's attachment and one publish,
//! however many are on the board.
//!
//! The wire protocol (JSON text messages). A client connects with
//! `?name=NAME` (400 without one) and is sent
//! `{"type":"welcome","you":ID,"cursors":[{"id","name","x","y"}...]}`
//! (the others on the board; `x` and `y` are null for a cursor that has not
//! moved yet). It then sends `{"x":X,"y":Y}` as its pointer moves, as
//! fractions of the board's width and height (0 to 1), at most about 20
//! times a second. Everyone on the board hears
//! `{"type":"move","id":ID,"name":NAME,"x":X,"y":Y}`,
//! `{"type":"join","id":ID,"name":NAME}` and `{"type":"leave","id":ID}`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_guest::{
    Accept, App, ConnectionId, Member, Message, Reject, Request, Subscribe, attachment, members,
    publish, send, set_attachment, subscribe,
};

const BOARD: &str = "board";

/// Names longer than this are refused: a name follows a cursor around.
const MAX_NAME_CHARS: usize = 32;

#[derive(Default)]
struct Cursors;

/// A pointer position, as fractions of the board.
#[derive(Deserialize, Serialize, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
}

impl Point {
    /// A point on the board, or `None` for one off it (or not a number).
    fn on_board(self) -> Option<Point> {
        let inside = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        (inside(self.x) && inside(self.y)).then_some(self)
    }
}

/// What is attached to each connection: who it is on the board and where
/// its cursor was last.
#[derive(Deserialize, Serialize)]
struct Cursor {
    id: String,
    name: String,
    point: Option<Point>,
}

fn cursor_of(connection: ConnectionId) -> Option<Cursor> {
    serde_json::from_slice(&attachment(connection)).ok()
}

fn attach(connection: ConnectionId, cursor: &Cursor) {
    if let Ok(bytes) = serde_json::to_vec(cursor) {
        let _ = set_attachment(connection, &bytes);
    }
}

fn name_of(member: &Member) -> &str {
    member.info_text().unwrap_or("?")
}

impl App for Cursors {
    fn on_open(&mut self, connection: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let name = request
            .query_param("name")
            .map(|name| name.trim().to_string())
            .unwrap_or_default();
        if name.is_empty() {
            return Err(Reject::new(400, "come with ?name=YOUR_NAME"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Reject::new(400, "that name is too long"));
        }
        // Who is here already, and where, before this one joins.
        let cursors: Vec<Value> = members(BOARD)
            .iter()
            .map(|member| {
                let point = member
                    .connection
                    .and_then(cursor_of)
                    .and_then(|cursor| cursor.point);
                json!({
                    "id": member.id,
                    "name": name_of(member),
                    "x": point.map(|p| p.x),
                    "y": point.map(|p| p.y),
                })
            })
            .collect();
        if subscribe(connection, BOARD, Subscribe::new().info(name.clone())).is_err() {
            return Err(Reject::new(503, "the board is unavailable"));
        }
        let you = members(BOARD)
            .into_iter()
            .find(|member| member.connection == Some(connection))
            .map(|member| member.id)
            .unwrap_or_default();
        attach(
            connection,
            &Cursor {
                id: you.clone(),
                name,
                point: None,
            },
        );
        send(
            connection,
            json!({"type": "welcome", "you": you, "cursors": cursors}).to_string(),
        );
        Ok(Accept::new())
    }

    fn on_message(&mut self, connection: ConnectionId, message: Message) {
        let Some(point) = message
            .as_text()
            .and_then(|text| serde_json::from_str::<Point>(text).ok())
            .and_then(Point::on_board)
        else {
            // A client that sends nonsense is simply not drawn.
            return;
        };
        let Some(mut cursor) = cursor_of(connection) else {
            return;
        };
        publish(
            BOARD,
            json!({"type": "move", "id": cursor.id, "name": cursor.name, "x": point.x, "y": point.y})
                .to_string(),
        );
        cursor.point = Some(point);
        attach(connection, &cursor);
    }

    fn on_join(&mut self, topic: &str, member: Member) {
        if topic == BOARD {
            publish(
                BOARD,
                json!({"type": "join", "id": member.id, "name": name_of(&member)}).to_string(),
            );
        }
    }

    fn on_leave(&mut self, topic: &str, member: Member) {
        if topic == BOARD {
            publish(BOARD, json!({"type": "leave", "id": member.id}).to_string());
        }
    }
}

switchboard_guest::export!(Cursors);
