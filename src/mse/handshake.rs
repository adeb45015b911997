//! The two sides of the MSE handshake, message by message (see the module above for the
//! messages). Each reads exactly what the peer sends up to the end of the handshake and
//! no further, and checks every length before it reads.

use super::cipher::{Ciphers, hash};
use super::dh::{KEY_LEN, KeyPair};
use super::is_plain_handshake;
use super::{Agreed, MAX_INITIAL_PAYLOAD, MAX_PAD, Method, MseError, VC};
use crate::random::Rng;
use std::io::{Read, Write};

/// Answers an initiator whose first 20 bytes, `start`, the caller has already read to tell
/// MSE from a plain BitTorrent handshake. Selects plaintext if the initiator offers it, else
/// RC4. `info_hash` is the only torrent we serve.
pub fn respond(
    io: &mut (impl Read + Write),
    start: &[u8; 20],
    info_hash: &[u8; 20],
) -> Result<Agreed, MseError> {
    // 1. Ya (PadA follows; we skip it in step 3).
    let mut ya = [0u8; KEY_LEN];
    ya[..20].copy_from_slice(start);
    io.read_exact(&mut ya[20..])?;

    // 2. Yb, PadB.
    let ours = KeyPair::generate().map_err(MseError::Random)?;
    let secret = ours.shared_secret(&ya).map_err(|_| MseError::WeakKey)?;
    io.write_all(&with_pad(&ours.public))?;

    // 3. HASH('req1', S) ends PadA. Then which torrent: HASH('req2', SKEY) xor HASH('req3', S).
    if !skip_to(io, &hash(&[b"req1", &secret]))? {
        return Err(MseError::NoSync("HASH('req1', S)"));
    }
    let mut torrent = [0u8; 20];
    io.read_exact(&mut torrent)?;
    let req3 = hash(&[b"req3", &secret]);
    torrent
        .iter_mut()
        .zip(req3)
        .for_each(|(byte, mask)| *byte ^= mask);
    if torrent != hash(&[b"req2", info_hash]) {
        return Err(MseError::WrongTorrent);
    }

    // ... ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA).
    let mut ciphers = Ciphers::derive(&secret, info_hash, false);
    let mut head = [0u8; 8 + 4 + 2];
    read_decrypted(io, &mut ciphers, &mut head)?;
    if head[..8] != VC {
        return Err(MseError::BadVerification);
    }
    let provided = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let pad_c = checked_pad("PadC", u16::from_be_bytes([head[12], head[13]]))?;
    let mut pad_and_len = vec![0u8; pad_c + 2];
    read_decrypted(io, &mut ciphers, &mut pad_and_len)?;
    let ia_len = u16::from_be_bytes([pad_and_len[pad_c], pad_and_len[pad_c + 1]]) as usize;
    if ia_len > MAX_INITIAL_PAYLOAD {
        return Err(MseError::PayloadTooLong(ia_len));
    }
    let mut initial_payload = vec![0u8; ia_len];
    read_decrypted(io, &mut ciphers, &mut initial_payload)?;

    // 4. ENCRYPT(VC, crypto_select, len(PadD) = 0).
    let method = if provided & Method::Plaintext.bit() != 0 {
        Method::Plaintext
    } else if provided & Method::Rc4.bit() != 0 {
        Method::Rc4
    } else {
        return Err(MseError::NoCommonMethod(provided));
    };
    let mut answer = [0u8; 8 + 4 + 2];
    answer[8..12].copy_from_slice(&method.bit().to_be_bytes());
    ciphers.send.apply(&mut answer);
    io.write_all(&answer)?;

    Ok(Agreed {
        method,
        ciphers: (method == Method::Rc4).then_some(ciphers),
        initial_payload,
    })
}

/// Opens an MSE handshake to the responder of the torrent `info_hash`, offering the
/// methods in `offer`, with `initial_payload` (our BitTorrent handshake) in message 3.
pub fn initiate(
    io: &mut (impl Read + Write),
    info_hash: &[u8; 20],
    offer: &[Method],
    initial_payload: &[u8],
) -> Result<Agreed, MseError> {
    // 1. Ya, PadA.
    let ours = KeyPair::generate().map_err(MseError::Random)?;
    io.write_all(&with_pad(&ours.public))?;

    // 2. Yb (PadB follows; we skip it after message 3). A client without MSE may answer
    //    with its plain handshake instead, which its first 20 bytes give away.
    let mut yb = [0u8; KEY_LEN];
    io.read_exact(&mut yb[..20])?;
    if is_plain_handshake(&yb[..20]) {
        return Err(MseError::PlainAnswer);
    }
    io.read_exact(&mut yb[20..])?;
    let secret = ours.shared_secret(&yb).map_err(|_| MseError::WeakKey)?;

    // 3. HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
    //    ENCRYPT(VC, crypto_provide, len(PadC) = 0, len(IA), IA).
    let mut ciphers = Ciphers::derive(&secret, info_hash, true);
    let mut message = hash(&[b"req1", &secret]).to_vec();
    let req2 = hash(&[b"req2", info_hash]);
    let req3 = hash(&[b"req3", &secret]);
    message.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
    let provided = offer.iter().fold(0, |bits, method| bits | method.bit());
    let mut encrypted = VC.to_vec();
    encrypted.extend_from_slice(&provided.to_be_bytes());
    encrypted.extend_from_slice(&0u16.to_be_bytes());
    let ia_len = u16::try_from(initial_payload.len()).unwrap_or(u16::MAX);
    encrypted.extend_from_slice(&ia_len.to_be_bytes());
    encrypted.extend_from_slice(&initial_payload[..ia_len as usize]);
    ciphers.send.apply(&mut encrypted);
    message.extend(encrypted);
    io.write_all(&message)?;

    // 4. B's encrypted VC ends PadB; then crypto_select, len(PadD), PadD.
    let mut vc = VC;
    ciphers.receive.apply(&mut vc);
    if !skip_to(io, &vc)? {
        return Err(MseError::NoSync("encrypted verification constant"));
    }
    let mut select_and_len = [0u8; 4 + 2];
    read_decrypted(io, &mut ciphers, &mut select_and_len)?;
    let selected = u32::from_be_bytes([
        select_and_len[0],
        select_and_len[1],
        select_and_len[2],
        select_and_len[3],
    ]);
    let pad_d = checked_pad(
        "PadD",
        u16::from_be_bytes([select_and_len[4], select_and_len[5]]),
    )?;
    read_decrypted(io, &mut ciphers, &mut vec![0u8; pad_d])?;
    let method = offer
        .iter()
        .copied()
        .find(|method| method.bit() == selected)
        .ok_or(MseError::BadSelect(selected))?;

    Ok(Agreed {
        method,
        ciphers: (method == Method::Rc4).then_some(ciphers),
        initial_payload: Vec::new(),
    })
}

/// `key` followed by 0 to [`MAX_PAD`] random bytes (PadA or PadB), so that not even the
/// length of the first message is always the same.
fn with_pad(key: &[u8; KEY_LEN]) -> Vec<u8> {
    let mut rng = Rng::new();
    let mut message = key.to_vec();
    let mut pad = vec![0u8; rng.below(MAX_PAD + 1)];
    rng.fill(&mut pad);
    message.extend(pad);
    message
}

/// Reads `buf.len()` bytes and decrypts them with the peer's stream.
fn read_decrypted(
    io: &mut impl Read,
    ciphers: &mut Ciphers,
    buf: &mut [u8],
) -> Result<(), MseError> {
    io.read_exact(buf)?;
    ciphers.receive.apply(buf);
    Ok(())
}

fn checked_pad(pad: &'static str, len: u16) -> Result<usize, MseError> {
    let len = len as usize;
    if len > MAX_PAD {
        return Err(MseError::PadTooLong { pad, len });
    }
    Ok(len)
}

/// Reads up to and including `marker`, which must come after at most [`MAX_PAD`] other
/// bytes; `false` if it does not. Never reads past the marker: each read asks only for as
/// many bytes as the marker could still need (fewer when the bytes seen so far end with the
/// start of it), so what follows stays in the stream.
pub(super) fn skip_to(io: &mut impl Read, marker: &[u8]) -> std::io::Result<bool> {
    let limit = MAX_PAD + marker.len();
    let mut seen = Vec::with_capacity(limit);
    loop {
        let partial = (1..marker.len())
            .rev()
            .find(|&len| seen.ends_with(&marker[..len]))
            .unwrap_or(0);
        let want = marker.len() - partial;
        if seen.len() + want > limit {
            return Ok(false);
        }
        let old_len = seen.len();
        seen.resize(old_len + want, 0);
        io.read_exact(&mut seen[old_len..])?;
        if seen.ends_with(marker) {
            return Ok(true);
        }
    }
}
