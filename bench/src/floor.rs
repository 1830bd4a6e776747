//! `sshfan-bench-floor`: the kernel's share of a warm command, with nothing else around it.
//!
//! A command on a kept SSH session is, on the wire, two writes and two reads per host
//! (sizes measured with `strace` on `sshfan-bench --runs 3` against the testkit fleet):
//! the client writes the previous command's CLOSE (36 bytes, held for this write) with
//! CHANNEL_OPEN (52), reads the confirmation (52), writes the exec request (68), and
//! reads success, data, EOF, exit status and close in one segment (212). With a spare
//! channel opened ahead (`--spare`) it is one write (the close, the exec on the spare and
//! the next spare's open) and one read (the output and the confirmation). This program
//! makes exactly those writes and reads over loopback TCP, to a server process that
//! answers the same way, from one thread with a bare `epoll` loop: no SSH, no encryption,
//! no async runtime, no allocation per message. Its client CPU per host per command is
//! the floor under any SSH client's warm command on this machine (on loopback a
//! `sendto` also runs the receiver's TCP path, as it does for sshfan against the fleet).
//!
//! `sshfan-bench-floor --hosts 1000 --rounds 20` prints one JSON object: user and system
//! CPU per host per command, in milliseconds, measured with `getrusage` around the
//! rounds only (connecting is not counted).
//!
//! `unsafe` is allowed here for the bare syscalls (`epoll`, `getrusage`) that keep any
//! library out of the measured path.
#![allow(unsafe_code)]

#[path = "cpu.rs"]
mod cpu;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use clap::Parser;
use cpu::cpu_seconds;

/// What the client writes and reads, in order, per command: (client writes, server
/// answers). Sizes as `strace` shows them for sshfan against the fleet.
const PLAIN: &[(usize, usize)] = &[(36 + 52, 52), (68, 212)];

/// The same with a spare channel opened ahead: one exchange.
const SPARE: &[(usize, usize)] = &[(36 + 68 + 52, 212 + 52)];

/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;

#[derive(Parser)]
struct Args {
    /// Connections (hosts) to drive at once.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Commands per connection.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// A warm command on a spare channel (one write, one read) instead of a new channel.
    #[arg(long)]
    spare: bool,
    /// Run as the answering server on this listening port's inherited socket (internal).
    #[arg(long, hide = true)]
    serve: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let exchanges = if args.spare { SPARE } else { PLAIN };
    if args.serve {
        return serve(args.hosts, exchanges);
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let server = spawn_server(&listener, args.hosts, args.spare)?;
    let connections = (0..args.hosts)
        .map(|_| {
            let stream = TcpStream::connect(address)?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    drop(listener);
    let poller = Epoll::new()?;
    for (index, stream) in connections.iter().enumerate() {
        poller.add(stream.as_raw_fd(), index)?;
    }
    let before = cpu_seconds();
    for _ in 0..args.rounds {
        round(&poller, &connections, exchanges)?;
    }
    let (user, system) = cpu_seconds();
    let commands = (args.hosts * args.rounds) as f64;
    let result = serde_json::json!({
        "hosts": args.hosts,
        "rounds": args.rounds,
        "spare": args.spare,
        "user_ms_per_command": (user - before.0) * 1e3 / commands,
        "system_ms_per_command": (system - before.1) * 1e3 / commands,
        "cpu_ms_per_command": (user - before.0 + system - before.1) * 1e3 / commands,
    });
    drop(connections);
    finish(server)?;
    writeln!(std::io::stdout().lock(), "{result}")?;
    Ok(())
}

/// Starts this program again as the server, the listening socket as its stdin.
fn spawn_server(listener: &TcpListener, hosts: usize, spare: bool) -> anyhow::Result<Child> {
    let socket = listener.try_clone()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["--serve", "--hosts", &hosts.to_string()])
        .args(spare.then_some("--spare"))
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(socket)))
        .spawn()
        .context("starting the server process")?;
    Ok(child)
}

fn finish(mut server: Child) -> anyhow::Result<()> {
    let status = server.wait()?;
    if !status.success() {
        bail!("the server process failed: {status}");
    }
    Ok(())
}

/// One command on every connection: its exchanges, each connection as fast as its
/// answers come.
fn round(
    poller: &Epoll,
    connections: &[TcpStream],
    exchanges: &[(usize, usize)],
) -> anyhow::Result<()> {
    // Per connection: which exchange it is in, and how much of the answer it has read.
    let mut progress = vec![(0usize, 0usize); connections.len()];
    let request = [0u8; 256];
    for stream in connections {
        (&*stream).write_all(&request[..exchanges[0].0])?;
    }
    let mut pending = connections.len();
    let mut answer = [0u8; 512];
    let mut ready = Vec::with_capacity(EVENTS);
    while pending > 0 {
        poller.wait(&mut ready)?;
        for &index in &ready {
            let stream = &connections[index];
            let (exchange, read) = &mut progress[index];
            match fill(stream, &mut answer, read, exchanges[*exchange].1)? {
                Fill::Closed => bail!("the server closed connection {index}"),
                Fill::Partial => continue,
                Fill::Done => {}
            }
            *exchange += 1;
            match exchanges.get(*exchange) {
                Some((request_size, _)) => (&*stream).write_all(&request[..*request_size])?,
                // Done: the command's close waits for the next round's first write, so
                // this connection stays quiet until then.
                None => pending -= 1,
            }
        }
    }
    Ok(())
}

/// The server: accepts `hosts` connections on the socket it got as stdin, then answers
/// each request with its exchange's answer until every client has hung up.
fn serve(hosts: usize, exchanges: &[(usize, usize)]) -> anyhow::Result<()> {
    use std::os::fd::FromRawFd;
    // SAFETY: the parent passed the listening socket as stdin and nothing else uses it.
    let listener = unsafe { TcpListener::from_raw_fd(0) };
    let poller = Epoll::new()?;
    let mut connections = Vec::with_capacity(hosts);
    for index in 0..hosts {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        poller.add(stream.as_raw_fd(), index)?;
        connections.push(Some(stream));
    }
    // Per connection: which exchange it is in, and how much of the request it has read.
    let mut progress = vec![(0usize, 0usize); hosts];
    let answer = [0u8; 512];
    let mut request = [0u8; 256];
    let mut open = hosts;
    let mut ready = Vec::with_capacity(EVENTS);
    while open > 0 {
        poller.wait(&mut ready)?;
        for &index in &ready {
            let Some(stream) = &connections[index] else {
                continue;
            };
            let (exchange, read) = &mut progress[index];
            match fill(stream, &mut request, read, exchanges[*exchange].0)? {
                Fill::Closed => {
                    poller.remove(stream.as_raw_fd())?;
                    connections[index] = None;
                    open -= 1;
                    continue;
                }
                Fill::Partial => continue,
                Fill::Done => {}
            }
            (&*stream).write_all(&answer[..exchanges[*exchange].1])?;
            *exchange = (*exchange + 1) % exchanges.len();
        }
    }
    Ok(())
}

/// What one read brought of a message of known size.
enum Fill {
    /// The peer hung up.
    Closed,
    /// Part of it; more is to come.
    Partial,
    /// All of it (`read` is back to 0 for the next one).
    Done,
}

/// Reads what is there of a `want`-byte message into `scratch`, `read` bytes of which
/// came before.
fn fill(
    stream: &TcpStream,
    scratch: &mut [u8],
    read: &mut usize,
    want: usize,
) -> std::io::Result<Fill> {
    let got = (&*stream).read(&mut scratch[..want - *read])?;
    if got == 0 {
        return Ok(Fill::Closed);
    }
    *read += got;
    if *read < want {
        return Ok(Fill::Partial);
    }
    *read = 0;
    Ok(Fill::Done)
}

/// A level-triggered epoll set whose events carry a connection's index.
struct Epoll(RawFd);

impl Epoll {
    fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall; the descriptor is owned by the returned value.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self(fd))
    }

    fn add(&self, fd: RawFd, index: usize) -> std::io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: index as u64,
        };
        // SAFETY: `event` outlives the call.
        let result = unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut event) };
        if result < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn remove(&self, fd: RawFd) -> std::io::Result<()> {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL.
        let result =
            unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
        if result < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Fills `ready` with the indexes of the connections readable now (waits for at
    /// least one).
    fn wait(&self, ready: &mut Vec<usize>) -> std::io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            // SAFETY: the buffer holds `EVENTS` entries.
            let count = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), EVENTS as i32, -1) };
            if count >= 0 {
                ready.clear();
                ready.extend(
                    events[..count as usize]
                        .iter()
                        .map(|event| event.u64 as usize),
                );
                return Ok(());
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}
