#!/usr/bin/env python3
"""A tiny SMTP sink for scripts/multi-instance and scripts/soak.

Usage: smtp_sink.py PORT LOGFILE

Listens on 127.0.0.1:PORT, accepts every message (plain SMTP, no auth, no
TLS) and appends one JSON line per accepted message to LOGFILE:
{"t": unix time, "to": [envelope recipients], "message_id": ..., "subject": ...}.
A message counts only once the client has sent the final "." and the sink
has answered 250: a sender killed mid-DATA leaves no line, as a real relay
would discard it. Runs until killed. Standard library only.
"""
import asyncio
import email.parser
import json
import sys
import time


async def handle(reader, writer, log):
    def send(line):
        writer.write((line + "\r\n").encode())

    send("220 sink ESMTP")
    rcpts = []
    try:
        while True:
            await writer.drain()
            raw = await reader.readline()
            if not raw:
                return
            cmd = raw.decode(errors="replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == "HELO":
                send("250 sink")
            elif verb == "MAIL":
                rcpts = []
                send("250 OK")
            elif verb == "RCPT":
                rcpts.append(cmd.split(":", 1)[-1].strip().split(" ")[0].strip("<>"))
                send("250 OK")
            elif verb == "DATA":
                send("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                lines = []
                while True:
                    line = await reader.readline()
                    if not line:
                        return  # dropped mid-message: discarded
                    if line in (b".\r\n", b".\n"):
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
                headers = email.parser.BytesHeaderParser().parsebytes(b"".join(lines))
                record = {
                    "t": time.time(),
                    "to": rcpts,
                    "message_id": (headers.get("Message-ID") or "").strip(),
                    "subject": str(headers.get("Subject") or ""),
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
                send("250 OK")
            elif verb in ("RSET", "NOOP"):
                rcpts = [] if verb == "RSET" else rcpts
                send("250 OK")
            elif verb == "QUIT":
                send("221 bye")
                await writer.drain()
                return
            else:
                send("502 not implemented")
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main(port, path):
    with open(path, "a", encoding="utf-8") as log:
        server = await asyncio.start_server(lambda r, w: handle(r, w, log), "127.0.0.1", port)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
