//! Relayed connections through a real coturn (started by `scripts/peers`) with the TURN REST
//! credentials callside issues: a small TURN client of the test's own (RFC 5766/8656 Allocate,
//! CreatePermission, Send and Data indications) allocates a relay and moves data both ways
//! between it and a UDP peer.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::Value;
use sha1::Sha1;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

mod support;
use support::*;

const COOKIE: u32 = 0x2112_A442;
const ALLOCATE: u16 = 0x0003;
const CREATE_PERMISSION: u16 = 0x0008;
const SEND_INDICATION: u16 = 0x0016;
const DATA_INDICATION: u16 = 0x0017;
const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const XOR_PEER_ADDRESS: u16 = 0x0012;
const DATA: u16 = 0x0013;
const REALM: u16 = 0x0014;
const NONCE: u16 = 0x0015;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;

/// One STUN message being built.
struct Msg {
    kind: u16,
    tid: [u8; 12],
    attrs: Vec<u8>,
}

impl Msg {
    fn new(kind: u16) -> Msg {
        // Unique per message is all a transaction id needs here.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let mut tid = [0u8; 12];
        tid[..4].copy_from_slice(
            &NEXT
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_be_bytes(),
        );
        tid[4..8].copy_from_slice(&std::process::id().to_be_bytes());
        Msg {
            kind,
            tid,
            attrs: Vec::new(),
        }
    }

    fn attr(mut self, t: u16, v: &[u8]) -> Msg {
        self.attrs.extend_from_slice(&t.to_be_bytes());
        self.attrs
            .extend_from_slice(&(v.len() as u16).to_be_bytes());
        self.attrs.extend_from_slice(v);
        while !self.attrs.len().is_multiple_of(4) {
            self.attrs.push(0);
        }
        self
    }

    fn header(&self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + len);
        out.extend_from_slice(&self.kind.to_be_bytes());
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&COOKIE.to_be_bytes());
        out.extend_from_slice(&self.tid);
        out
    }

    /// The message, with MESSAGE-INTEGRITY under the long-term key when given.
    fn bytes(&self, key: Option<&[u8]>) -> Vec<u8> {
        let Some(key) = key else {
            let mut out = self.header(self.attrs.len());
            out.extend_from_slice(&self.attrs);
            return out;
        };
        // The length covers the MESSAGE-INTEGRITY attribute (24 bytes) being computed.
        let mut out = self.header(self.attrs.len() + 24);
        out.extend_from_slice(&self.attrs);
        let mut mac = Hmac::<Sha1>::new_from_slice(key).unwrap();
        mac.update(&out);
        out.extend_from_slice(&MESSAGE_INTEGRITY.to_be_bytes());
        out.extend_from_slice(&20u16.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// A parsed STUN message: its type and attributes.
struct Parsed {
    kind: u16,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Parsed {
    fn parse(b: &[u8]) -> Parsed {
        assert!(b.len() >= 20, "a STUN message");
        assert_eq!(u32::from_be_bytes(b[4..8].try_into().unwrap()), COOKIE);
        let kind = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        let mut attrs = Vec::new();
        let mut i = 20;
        while i + 4 <= 20 + len {
            let t = u16::from_be_bytes([b[i], b[i + 1]]);
            let l = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
            attrs.push((t, b[i + 4..i + 4 + l].to_vec()));
            i += 4 + l.div_ceil(4) * 4;
        }
        Parsed { kind, attrs }
    }

    fn get(&self, t: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    fn error_code(&self) -> Option<u16> {
        self.get(ERROR_CODE)
            .map(|v| u16::from(v[2] & 7) * 100 + u16::from(v[3]))
    }

    fn xor_address(&self, t: u16) -> Option<SocketAddr> {
        let v = self.get(t)?;
        let port = u16::from_be_bytes([v[2], v[3]]) ^ (COOKIE >> 16) as u16;
        let ip = u32::from_be_bytes(v[4..8].try_into().unwrap()) ^ COOKIE;
        Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
    }
}

fn xor_address(addr: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(a) = addr else {
        panic!("IPv4 only here")
    };
    let mut v = vec![0, 1];
    v.extend_from_slice(&(a.port() ^ (COOKIE >> 16) as u16).to_be_bytes());
    v.extend_from_slice(&(u32::from(*a.ip()) ^ COOKIE).to_be_bytes());
    v
}

/// A granted allocation: the relayed address and what later requests authenticate with.
struct Allocation {
    relayed: SocketAddr,
    key: Vec<u8>,
    realm: Vec<u8>,
    nonce: Vec<u8>,
}

struct TurnClient {
    socket: UdpSocket,
    server: SocketAddr,
}

impl TurnClient {
    fn new(server: SocketAddr) -> TurnClient {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        TurnClient { socket, server }
    }

    fn exchange(&self, bytes: &[u8]) -> Parsed {
        self.socket.send_to(bytes, self.server).unwrap();
        let mut buf = [0u8; 2048];
        let (n, _) = self.socket.recv_from(&mut buf).expect("coturn answers");
        Parsed::parse(&buf[..n])
    }

    /// Allocate with the long-term credential mechanism: the first request learns realm and
    /// nonce from the 401, the second authenticates. Returns the relayed address, or the error.
    fn allocate(&self, username: &str, password: &str) -> Result<Allocation, u16> {
        let transport = [17u8, 0, 0, 0]; // UDP
        let challenge = self.exchange(
            &Msg::new(ALLOCATE)
                .attr(REQUESTED_TRANSPORT, &transport)
                .bytes(None),
        );
        assert_eq!(
            challenge.error_code(),
            Some(401),
            "an unauthenticated Allocate is challenged"
        );
        let realm = challenge.get(REALM).expect("a realm").to_vec();
        let nonce = challenge.get(NONCE).expect("a nonce").to_vec();
        let key =
            Md5::digest([username.as_bytes(), b":", &realm, b":", password.as_bytes()].concat())
                .to_vec();
        let answer = self.exchange(
            &Msg::new(ALLOCATE)
                .attr(REQUESTED_TRANSPORT, &transport)
                .attr(USERNAME, username.as_bytes())
                .attr(REALM, &realm)
                .attr(NONCE, &nonce)
                .bytes(Some(&key)),
        );
        if answer.kind != 0x0103 {
            return Err(answer.error_code().unwrap_or(0));
        }
        let relayed = answer
            .xor_address(XOR_RELAYED_ADDRESS)
            .expect("a relayed address");
        Ok(Allocation {
            relayed,
            key,
            realm,
            nonce,
        })
    }
}

#[test]
fn callside_turn_credentials_allocate_a_relay_on_coturn() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("s3cret{}", std::process::id());
    let turn_dir = dir.path().join("coturn");
    let coturn = Peers::start(
        &turn_dir,
        &["coturn-start", turn_dir.to_str().unwrap(), &secret],
        &[],
    );
    let port = coturn.get("TURN_PORT").to_owned();
    let urls = format!("[\"turn:127.0.0.1:{port}?transport=udp\"]");
    let stun = format!("[\"stun:127.0.0.1:{port}\"]");
    let data = dir.path().join("data");
    let (mut serve, server) = serve(
        &data,
        &[
            ("CALLSIDE_TURN__URLS", &urls),
            ("CALLSIDE_TURN__STUN_URLS", &stun),
            ("CALLSIDE_TURN__SECRET", &secret),
            ("CALLSIDE_TURN__TTL_SECS", "600"),
        ],
    );
    let created = run(
        &server,
        &[
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
            "device",
            "create",
            "--name",
            "a",
            "--number",
            "+442079460001",
        ],
    )
    .remove(0);
    let device = created["token"].as_str().unwrap();
    let cd: Value = run(&server, &["phone", "--token", device, "connection-data"]).remove(0);
    let servers = cd["ice_servers"].as_array().unwrap();
    assert_eq!(servers[0]["urls"][0], format!("stun:127.0.0.1:{port}"));
    let turn = &servers[1];
    assert_eq!(
        turn["urls"][0],
        format!("turn:127.0.0.1:{port}?transport=udp")
    );
    let username = turn["username"].as_str().unwrap();
    let password = turn["credential"].as_str().unwrap();
    let expires: i64 = username.split(':').next().unwrap().parse().unwrap();
    assert_eq!(cd["expires_at"].as_i64().unwrap(), expires * 1000);
    assert!(username.ends_with(created["device"]["id"].as_str().unwrap()));

    let server_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A wrong password is refused by coturn.
    let mut wrong = password.to_owned();
    wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        TurnClient::new(server_addr)
            .allocate(username, &wrong)
            .err(),
        Some(401)
    );

    // The issued one allocates a relay, and data flows both ways through it.
    let client = TurnClient::new(server_addr);
    let Allocation {
        relayed,
        key,
        realm,
        nonce,
    } = client.allocate(username, password).expect("allocated");
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let permission = client.exchange(
        &Msg::new(CREATE_PERMISSION)
            .attr(XOR_PEER_ADDRESS, &xor_address(peer_addr))
            .attr(USERNAME, username.as_bytes())
            .attr(REALM, &realm)
            .attr(NONCE, &nonce)
            .bytes(Some(&key)),
    );
    assert_eq!(
        permission.kind,
        0x0108,
        "CreatePermission succeeds (error {:?})",
        permission.error_code()
    );
    client
        .socket
        .send_to(
            &Msg::new(SEND_INDICATION)
                .attr(XOR_PEER_ADDRESS, &xor_address(peer_addr))
                .attr(DATA, b"hello through the relay")
                .bytes(None),
            server_addr,
        )
        .unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = peer.recv_from(&mut buf).expect("the peer gets the data");
    assert_eq!(&buf[..n], b"hello through the relay");
    assert_eq!(from, relayed, "it comes from the relayed address");
    peer.send_to(b"and back", relayed).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = client
        .socket
        .recv_from(&mut buf)
        .expect("a Data indication");
    let data = Parsed::parse(&buf[..n]);
    assert_eq!(data.kind, DATA_INDICATION);
    assert_eq!(data.get(DATA), Some(&b"and back"[..]));

    drop(coturn);
    let _ = serve.kill();
    let _ = serve.wait();
}
