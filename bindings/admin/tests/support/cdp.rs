//! Just enough of the Chrome DevTools protocol to evaluate an expression in
//! a page: a WebSocket client (RFC 6455: masked text frames out, whole
//! messages in) over loopback TCP, with bounded read time-outs.

use std::io::{Read, Write};
use std::net::TcpStream;

pub struct Page {
    conn: TcpStream,
    next_id: u64,
}

impl Page {
    /// Connect to the path of `ws_url` (a page's `webSocketDebuggerUrl`)
    /// on the DevTools server at `addr`.
    pub fn connect(addr: std::net::SocketAddr, ws_url: &str) -> Page {
        let rest = ws_url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(super::READ_TIMEOUT)).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "no WebSocket upgrade: {head}"
        );
        Page { conn, next_id: 1 }
    }

    /// The value of `expression` in the page (`Runtime.evaluate`).
    pub fn eval(&mut self, expression: &str) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = serde_json::json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true },
        });
        self.send(call.to_string().as_bytes());
        loop {
            let reply: serde_json::Value = serde_json::from_slice(&self.receive()).unwrap();
            if reply["id"] == id {
                return reply["result"]["result"]["value"].clone();
            }
        }
    }

    fn send(&mut self, payload: &[u8]) {
        let mask = [0x5a, 0x13, 0xc7, 0x2e];
        let mut frame = vec![0x81u8]; // FIN, text
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.conn.write_all(&frame).unwrap();
    }

    /// One whole message (continuation frames joined).
    fn receive(&mut self) -> Vec<u8> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.conn.read_exact(&mut h).unwrap();
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.conn.read_exact(&mut b).unwrap();
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.conn.read_exact(&mut b).unwrap();
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.conn.read_exact(&mut payload).unwrap();
            message.extend_from_slice(&payload);
            if h[0] & 0x80 != 0 {
                return message;
            }
        }
    }
}
