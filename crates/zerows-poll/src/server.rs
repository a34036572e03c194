//! The mio driver: one thread per event loop, each with its own `SO_REUSEPORT` listener on the
//! same address (the kernel spreads new connections over them; nothing is shared between
//! loops), its own epoll instance and its own [`EventLoop`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};
use zerows_upgrade::server::{Hooks, NoHooks, Upgrader};
use zerows_util::Config;

use crate::event_loop::EventLoop;
use crate::handle::Handle;
use crate::handler::Handler;
use crate::options::Options;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 1024;

/// What each loop runs: the application and the upgrader whose hooks check each request (path,
/// headers, `Origin`) and choose the subprotocol.
#[derive(Debug)]
pub struct Service<H, U = NoHooks> {
    /// The application.
    pub handler: H,
    /// The handshake's checks ([`Upgrader::new`] accepts any valid upgrade).
    pub upgrader: Upgrader<U>,
}

struct Worker {
    poll: Poll,
    listener: TcpListener,
    handle: Handle,
}

/// A readiness-driven WebSocket server: [`bind`](Self::bind) the listeners, then
/// [`run`](Self::run) the loops.
///
/// ```no_run
/// use std::sync::Arc;
/// use zerows_poll::{ConnId, Context, Handler, Options, Server};
/// use zerows_util::{Config, Message};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     fn on_message(&mut self, cx: &mut Context<'_>, id: ConnId, message: Message<'_>) {
///         let _ = cx.send(id, message.opcode(), message.payload());
///     }
/// }
///
/// let server = Server::bind("127.0.0.1:9001", Options::default(), Arc::new(Config::default()))?;
/// server.run(|_worker| Echo)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    workers: Vec<Worker>,
    local_addr: SocketAddr,
    options: Options,
    config: Arc<Config>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("threads", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// A non-blocking listener with `SO_REUSEADDR` and `SO_REUSEPORT`.
fn listener(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Server {
    /// Binds [`Options::threads`] listeners to `addr` with `SO_REUSEPORT` (port 0: one free
    /// port, the same for all; other processes may bind the same address too, and the kernel
    /// spreads connections over every listener).
    pub fn bind(
        addr: impl ToSocketAddrs,
        options: Options,
        config: Arc<Config>,
    ) -> io::Result<Server> {
        let mut addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let mut workers = Vec::new();
        for worker in 0..options.threads.max(1) {
            let mut listener = listener(addr, options.listen_backlog)?;
            addr = listener.local_addr()?;
            let poll = Poll::new()?;
            poll.registry()
                .register(&mut listener, LISTENER, Interest::READABLE)?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
            let handle = Handle::new(
                worker,
                Box::new(move || {
                    let _ = waker.wake();
                }),
            );
            workers.push(Worker {
                poll,
                listener,
                handle,
            });
        }
        Ok(Server {
            workers,
            local_addr: addr,
            options,
            config,
        })
    }

    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// One handle per loop, in worker order: to send from other threads, and to
    /// [`shutdown`](Handle::shutdown).
    pub fn handles(&self) -> Vec<Handle> {
        self.workers.iter().map(|w| w.handle.clone()).collect()
    }

    /// Runs the loops (the first on this thread), each with the handler `make(worker)` gives and
    /// an upgrader that accepts every valid upgrade; returns when every loop was shut down.
    pub fn run<H: Handler>(self, make: impl Fn(usize) -> H + Sync) -> io::Result<()> {
        self.run_with(|w| Service {
            handler: make(w),
            upgrader: Upgrader::new(),
        })
    }

    /// [`run`](Self::run) with an upgrader of the application's: its hooks accept or reject
    /// by path, headers and `Origin`, and choose the subprotocol.
    pub fn run_with<H: Handler, U: Hooks>(
        self,
        make: impl Fn(usize) -> Service<H, U> + Sync,
    ) -> io::Result<()> {
        let Server {
            workers,
            options,
            config,
            ..
        } = self;
        let make = &make;
        let options = &options;
        let config = &config;
        std::thread::scope(|scope| {
            let mut workers = workers.into_iter().enumerate();
            let first = workers.next();
            let threads: Vec<_> = workers
                .map(|(i, w)| {
                    std::thread::Builder::new()
                        .name(format!("zerows-poll-{i}"))
                        .spawn_scoped(scope, move || run_worker(i, w, make, options, config))
                })
                .collect::<io::Result<_>>()?;
            let mut result = match first {
                Some((i, w)) => run_worker(i, w, make, options, config),
                None => Ok(()),
            };
            for t in threads {
                let r = t
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("an event loop panicked")));
                result = result.and(r);
            }
            result
        })
    }
}

fn run_worker<H: Handler, U: Hooks>(
    index: usize,
    worker: Worker,
    make: &(impl Fn(usize) -> Service<H, U> + Sync),
    options: &Options,
    config: &Arc<Config>,
) -> io::Result<()> {
    let Worker {
        mut poll,
        listener,
        handle,
    } = worker;
    let mut listener = Some(listener);
    let Service { handler, upgrader } = make(index);
    let mut lp: EventLoop<TcpStream, H, U> = EventLoop::new(
        Arc::clone(config),
        options,
        handler,
        upgrader,
        &handle,
        Instant::now(),
    );
    let mut events = Events::with_capacity(EVENTS);
    loop {
        if lp.is_shutting_down() {
            if let Some(mut l) = listener.take() {
                let _ = poll.registry().deregister(&mut l);
            }
            if lp.connections() == 0 {
                return Ok(());
            }
        }
        let timeout = lp
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for ev in &events {
            match ev.token() {
                LISTENER => {
                    if let Some(l) = listener.as_mut() {
                        accept_all(l, &mut lp, &poll, now);
                    }
                }
                WAKER => lp.run_commands(now),
                Token(token) => lp.ready(
                    token,
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable() || ev.is_write_closed(),
                    now,
                ),
            }
        }
        lp.handle_timeout(Instant::now());
    }
}

/// Accepts until the listener would block (readiness is edge-triggered). On an error such as
/// `EMFILE` the rest wait in the listener's backlog until the next connection arrives.
fn accept_all<H: Handler, U: Hooks>(
    listener: &mut TcpListener,
    lp: &mut EventLoop<TcpStream, H, U>,
    poll: &Poll,
    now: Instant,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                let _ = lp.accept(stream, now, |s, token| {
                    poll.registry().register(
                        s,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
