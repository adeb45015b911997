//! A Message Stream Encryption initiator written out by hand from the spec, to talk to a
//! smalltorrent seeder: honest (offering plaintext and/or RC4) or hostile (garbage after
//! its key, a pad longer than 512 bytes, another torrent's hash). Only the building blocks
//! come from the crate: Diffie-Hellman, RC4 and SHA-1.

use sha1::{Digest, Sha1};
use smalltorrent::mse::dh::{KEY_LEN, KeyPair};
use smalltorrent::mse::rc4::Rc4;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

/// How our initiator opens the connection: [`Opening::honest`], then one field changed.
#[derive(Debug, Clone)]
pub struct Opening {
    /// Bytes of PadA (the spec allows at most 512).
    pub pad_a: usize,
    /// The info-hash we ask for.
    pub skey: [u8; 20],
    /// crypto_provide: 0x01 plaintext, 0x02 RC4.
    pub provide: u32,
    /// Send this instead of message 3.
    pub garbage: Option<Vec<u8>>,
    /// The initial payload: a BitTorrent handshake.
    pub ia: Vec<u8>,
}

impl Opening {
    /// What a well-behaved client sends for the torrent `info_hash`, offering `provide`.
    pub fn honest(info_hash: [u8; 20], provide: u32) -> Opening {
        Opening {
            pad_a: 40,
            skey: info_hash,
            provide,
            garbage: None,
            ia: super::hostile_client::handshake(info_hash, *b"-MS0001-handwritten!").to_vec(),
        }
    }
}

/// A connection after the MSE handshake: plaintext, or RC4 both ways.
pub struct Encrypted {
    pub stream: TcpStream,
    /// crypto_select: the method the responder chose.
    pub selected: u32,
    send: Option<Rc4>,
    receive: Option<Rc4>,
}

/// Connects from `from` to `to` and sends messages 1 and 3 of the handshake as `opening`
/// says (reading message 2 in between). Returns the socket and both keystreams (keyA to
/// send, keyB to receive), positioned after what was sent.
pub fn open(
    from: Ipv4Addr,
    to: SocketAddrV4,
    opening: &Opening,
) -> io::Result<(TcpStream, Rc4, Rc4)> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((from, 0)).into())?;
    socket.connect_timeout(&SocketAddr::from(to).into(), Duration::from_secs(5))?;
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;

    let ours = KeyPair::generate()?;
    stream.write_all(&ours.public)?;
    stream.write_all(&vec![0x5A; opening.pad_a])?;
    let mut yb = [0u8; KEY_LEN];
    stream.read_exact(&mut yb)?;
    let s = ours
        .shared_secret(&yb)
        .map_err(|_| io::Error::other("the seeder sent a weak key"))?;

    let mut send = Rc4::for_mse(&sha1(&[b"keyA", &s, &opening.skey]));
    let receive = Rc4::for_mse(&sha1(&[b"keyB", &s, &opening.skey]));
    let message = match &opening.garbage {
        Some(garbage) => garbage.clone(),
        None => {
            let mut message = sha1(&[b"req1", &s]).to_vec();
            let (req2, req3) = (sha1(&[b"req2", &opening.skey]), sha1(&[b"req3", &s]));
            message.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
            let mut encrypted = vec![0u8; 8]; // VC
            encrypted.extend(opening.provide.to_be_bytes());
            encrypted.extend(0u16.to_be_bytes()); // len(PadC)
            encrypted.extend((opening.ia.len() as u16).to_be_bytes());
            encrypted.extend(&opening.ia);
            send.apply(&mut encrypted);
            message.extend(encrypted);
            message
        }
    };
    stream.write_all(&message)?;
    Ok((stream, send, receive))
}

/// [`open`], then message 4: finds the responder's encrypted VC after PadB and reads
/// crypto_select and PadD. What follows is encrypted only if RC4 was selected.
pub fn handshake(from: Ipv4Addr, to: SocketAddrV4, opening: &Opening) -> io::Result<Encrypted> {
    let (mut stream, send, mut receive) = open(from, to, opening)?;
    let mut vc = [0u8; 8];
    receive.apply(&mut vc);
    let mut seen = Vec::new();
    while !seen.ends_with(&vc) {
        if seen.len() > 512 + 8 {
            return Err(io::Error::other("no encrypted VC within 512 bytes of PadB"));
        }
        let mut byte = [0u8];
        stream.read_exact(&mut byte)?;
        seen.push(byte[0]);
    }
    let mut select = [0u8; 6];
    stream.read_exact(&mut select)?;
    receive.apply(&mut select);
    let pad_d = u16::from_be_bytes([select[4], select[5]]) as usize;
    let mut pad = vec![0u8; pad_d];
    stream.read_exact(&mut pad)?;
    let selected = u32::from_be_bytes([select[0], select[1], select[2], select[3]]);
    let rc4 = selected == 0x02;
    Ok(Encrypted {
        stream,
        selected,
        send: rc4.then_some(send),
        receive: rc4.then_some(receive),
    })
}

impl Encrypted {
    /// Writes `bytes`, encrypted if the connection is.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut bytes = bytes.to_vec();
        if let Some(rc4) = &mut self.send {
            rc4.apply(&mut bytes);
        }
        self.stream.write_all(&bytes)
    }

    /// Reads exactly `n` bytes, decrypted if the connection is encrypted.
    pub fn receive(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; n];
        self.stream.read_exact(&mut bytes)?;
        if let Some(rc4) = &mut self.receive {
            rc4.apply(&mut bytes);
        }
        Ok(bytes)
    }

    /// Reads wire messages until one with id `want` arrives; returns its payload.
    pub fn wait_for_message(&mut self, want: u8) -> io::Result<Vec<u8>> {
        loop {
            let len = self.receive(4)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            if len > 1 << 20 {
                return Err(io::Error::other(format!("a {len}-byte message")));
            }
            let body = self.receive(len)?;
            if body.first() == Some(&want) {
                return Ok(body[1..].to_vec());
            }
        }
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut sha = Sha1::new();
    parts.iter().for_each(|part| sha.update(part));
    sha.finalize().into()
}
