//! Both handshakes over loopback, against a remote side scripted in the test: plain or MSE
//! (plaintext or RC4 selected), a peer that drips or stalls, garbage, and dialling with
//! MSE first, including the fall-back to plain.

use super::*;
use crate::mse::{self, Method};
use std::net::TcpListener;
use std::thread;

const INFO_HASH: [u8; 20] = [7; 20];
const OUR_ID: [u8; 20] = *b"-ST0100-testtesttest";
const THEIR_ID: [u8; 20] = *b"-XX0001-abcdefghijkl";

fn terms<'a>(stop: &'a AtomicBool, tracer: &'a Tracer, encrypt: bool) -> Terms<'a> {
    Terms {
        info_hash: INFO_HASH,
        peer_id: OUR_ID,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        tick: Duration::from_millis(50),
        stop,
        encrypt,
        dht: false,
        tracer,
    }
}

fn theirs() -> [u8; HANDSHAKE_LEN] {
    Handshake::new(INFO_HASH, THEIR_ID).to_bytes()
}

/// Runs [`answer`] on a connection whose other end `remote` drives; returns what `answer`
/// returned and what `remote` returned.
fn answer_to<T: Send + 'static>(
    stop: &AtomicBool,
    remote: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (Result<Established, PeerError>, T) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let remote = thread::spawn(move || {
        let socket = TcpStream::connect(addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        remote(socket)
    });
    let (stream, _) = listener.accept().unwrap();
    let tracer = Tracer::disabled();
    let result = answer(stream, &terms(stop, &tracer, false));
    (result, remote.join().unwrap())
}

#[test]
fn a_plain_handshake_is_answered_plain() {
    let stop = AtomicBool::new(false);
    let (result, ours) = answer_to(&stop, |mut socket| {
        socket.write_all(&theirs()).unwrap();
        Handshake::read_from(&mut socket).unwrap()
    });
    assert!(result.unwrap().ciphers.is_none());
    assert_eq!((ours.info_hash, ours.peer_id), (INFO_HASH, OUR_ID));
}

#[test]
fn mse_with_plaintext_selected_then_a_plain_handshake_answer() {
    let stop = AtomicBool::new(false);
    let (result, (agreed, ours)) = answer_to(&stop, |mut socket| {
        let offer = [Method::Plaintext, Method::Rc4];
        let agreed = mse::initiate(&mut socket, &INFO_HASH, &offer, &theirs()).unwrap();
        (agreed, Handshake::read_from(&mut socket).unwrap())
    });
    assert!(result.unwrap().ciphers.is_none());
    assert_eq!(agreed.method, Method::Plaintext);
    assert_eq!(ours.peer_id, OUR_ID);
}

#[test]
fn mse_with_rc4_selected_encrypts_our_handshake() {
    let stop = AtomicBool::new(false);
    let (result, ours) = answer_to(&stop, |mut socket| {
        let agreed = mse::initiate(&mut socket, &INFO_HASH, &[Method::Rc4], &theirs()).unwrap();
        let mut bytes = [0u8; HANDSHAKE_LEN];
        socket.read_exact(&mut bytes).unwrap();
        agreed.ciphers.unwrap().receive.apply(&mut bytes);
        Handshake::parse(&bytes).unwrap()
    });
    assert!(result.unwrap().ciphers.is_some());
    assert_eq!(ours.peer_id, OUR_ID);
}

/// The handshake deadline covers MSE too: a key sent one byte per 100 ms (9.6 s in all)
/// is cut off after the 1 s the terms allow.
#[test]
fn an_mse_key_dripped_byte_by_byte_times_out() {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (result, ()) = answer_to(&stop, |mut socket| {
        for byte in [0x42u8; 96] {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let error = result.err().unwrap();
    assert!(
        matches!(error, PeerError::Timeout("waiting for the handshake")),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_stop_ends_an_mse_wait_at_once() {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    // Ya's first 20 bytes and then silence.
    (&socket).write_all(&[0x42; 20]).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let stopper = stop.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        stopper.store(true, Ordering::Relaxed);
    });
    let tracer = Tracer::disabled();
    let started = Instant::now();
    let mut long = terms(&stop, &tracer, false);
    long.timeout = Duration::from_secs(30);
    let error = answer(stream, &long).err().unwrap();
    assert!(matches!(error, PeerError::Stopped), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn garbage_instead_of_a_handshake_is_an_encryption_error() {
    let stop = AtomicBool::new(false);
    let (result, ()) = answer_to(&stop, |mut socket| {
        let _ = socket.write_all(&[0x42; 1000]);
        let _ = socket.read(&mut [0u8; 2000]);
    });
    let error = result.err().unwrap();
    assert!(
        matches!(error, PeerError::Encryption(mse::MseError::NoSync(_))),
        "{error}"
    );
}

/// Our dialling side with MSE against our answering side: plaintext is selected.
#[test]
fn dialling_with_mse_reaches_our_own_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answering = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let stop = AtomicBool::new(false);
        let tracer = Tracer::disabled();
        let mut terms = terms(&stop, &tracer, false);
        terms.peer_id = THEIR_ID;
        answer(stream, &terms).map(|established| established.ciphers.is_some())
    });
    let stop = AtomicBool::new(false);
    let tracer = Tracer::disabled();
    let dialled = dial(addr, None, &terms(&stop, &tracer, true)).unwrap();
    assert!(dialled.ciphers.is_none());
    assert!(!answering.join().unwrap().unwrap());
}

/// A peer without MSE reads our key as a bad handshake and hangs up: we dial again, plain.
#[test]
fn dialling_with_mse_falls_back_to_plain_when_the_peer_hangs_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let plain_only = thread::spawn(move || {
        let mut attempts = 0;
        loop {
            let (mut socket, _) = listener.accept().unwrap();
            attempts += 1;
            match Handshake::read_from(&mut socket) {
                Ok(_) => {
                    socket.write_all(&theirs()).unwrap();
                    return attempts;
                }
                Err(_) => drop(socket),
            }
        }
    });
    let stop = AtomicBool::new(false);
    let tracer = Tracer::disabled();
    let dialled = dial(addr, None, &terms(&stop, &tracer, true)).unwrap();
    assert!(dialled.ciphers.is_none());
    assert_eq!(plain_only.join().unwrap(), 2, "one MSE attempt, one plain");
}

/// A peer without MSE that sends its handshake as soon as we connect and then waits for
/// ours (it never hangs up): its answer gives it away, and we dial again, plain.
#[test]
fn dialling_with_mse_falls_back_when_the_peer_answers_plain() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let eager = thread::spawn(move || {
        let mut attempts = Vec::new();
        loop {
            let (mut socket, _) = listener.accept().unwrap();
            socket.write_all(&theirs()).unwrap();
            match Handshake::read_from(&mut socket) {
                Ok(_) => return attempts.len() + 1,
                Err(_) => attempts.push(socket), // keep it open
            }
        }
    });
    let stop = AtomicBool::new(false);
    let tracer = Tracer::disabled();
    let started = Instant::now();
    let dialled = dial(addr, None, &terms(&stop, &tracer, true)).unwrap();
    assert!(dialled.ciphers.is_none());
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no waiting for a deadline"
    );
    assert_eq!(eager.join().unwrap(), 2, "one MSE attempt, one plain");
}
