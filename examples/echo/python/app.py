"""Echo: every message comes back to its sender, text as text, binary as
binary. The Python twin of examples/echo/rust."""

from switchboard import App, Message, export, send


class Echo(App):
    def on_message(self, connection: int, message: Message) -> None:
        send(connection, message)


export(Echo)
