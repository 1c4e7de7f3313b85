//! One connection's clock: when it must have sent something, and the wrappers that tell it.
//!
//! A connection is in one of three phases. **Head**: from its acceptance, or from the first byte
//! after an idle wait, until its request head is complete; bounded by the header-read timeout.
//! **Busy**: a request is being served, from the service call until its response body has been
//! sent or dropped; not bounded here (the request timeout layer bounds the service). **Idle**:
//! after a response, until the next byte; bounded by the idle timeout.
//!
//! hyper tells nobody when a head is complete or a response sent, so the clock learns it from
//! both sides: [`Tracked`] (the service hyper calls once the head is parsed, and whose response
//! body hyper drains) and [`Timed`] (the socket hyper reads). The deadline is enforced in
//! [`Timed`]'s `poll_read`, which hyper polls while it waits for a head: an expired deadline
//! is a read error, on which hyper closes the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tower::Service;

/// The phase of a connection, and since when.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Head(Instant),
    Busy(usize),
    Idle(Instant),
}

/// The clock of one connection, shared by its socket and its service.
#[derive(Debug, Clone)]
pub(super) struct Clock {
    phase: Arc<Mutex<Phase>>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Clock {
    /// The clock of a connection accepted now.
    pub(super) fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Self {
        let phase = Arc::new(Mutex::new(Phase::Head(Instant::now())));
        Self {
            phase,
            header_read_timeout,
            idle_timeout,
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        // A panic cannot leave a `Phase` half-written: the value is still usable.
        f(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The request head arrived: hyper calls the service.
    fn request_started(&self) -> InFlight {
        self.update(|phase| {
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
            }
        });
        InFlight(self.clone())
    }

    /// Bytes arrived: after an idle wait they begin a request head.
    fn bytes_read(&self) {
        self.update(|phase| {
            if let Phase::Idle(_) = phase {
                *phase = Phase::Head(Instant::now());
            }
        });
    }

    /// When the peer must have sent what it owes, if it owes something.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match self.update(|phase| *phase) {
            Phase::Head(since) => Some((
                since + self.header_read_timeout,
                "no complete request head in time",
            )),
            Phase::Idle(since) => Some((since + self.idle_timeout, "idle keep-alive timeout")),
            Phase::Busy(_) => None,
        }
    }
}

/// A request being served; dropped once its response body has been sent (or dropped).
#[derive(Debug)]
struct InFlight(Clock);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|phase| {
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                Phase::Busy(_) | Phase::Head(_) | Phase::Idle(_) => Phase::Idle(Instant::now()),
            }
        });
    }
}

pin_project_lite::pin_project! {
    /// A socket whose reads fail once its connection's deadline has passed.
    #[derive(Debug)]
    pub(super) struct Timed<IO> {
        #[pin]
        io: IO,
        clock: Clock,
        sleep: Pin<Box<Sleep>>,
    }
}

impl<IO> Timed<IO> {
    pub(super) fn new(io: IO, clock: Clock) -> Self {
        let sleep = Box::pin(tokio::time::sleep_until(
            Instant::now() + clock.header_read_timeout,
        ));
        Self { io, clock, sleep }
    }
}

impl<IO> Timed<IO> {
    /// Arms the timer for the current deadline and polls it (so the task wakes when it passes).
    fn poll_deadline(
        clock: &Clock,
        sleep: &mut Pin<Box<Sleep>>,
        cx: &mut Context<'_>,
    ) -> Poll<&'static str> {
        let Some((deadline, reason)) = clock.deadline() else {
            return Poll::Pending;
        };
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx).map(|()| reason)
    }
}

impl<IO: AsyncRead> AsyncRead for Timed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let filled = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > filled => {
                this.clock.bytes_read();
                Poll::Ready(Ok(()))
            }
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                let reason = ready!(Self::poll_deadline(this.clock, this.sleep, cx));
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, reason)))
            }
        }
    }
}

impl<IO: AsyncWrite> AsyncWrite for Timed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let flushed = this.io.poll_flush(cx);
        // hyper flushes after the end of each response but may not read again until bytes
        // arrive: arm the idle deadline here so the task wakes for it, and poll_read fails.
        if Self::poll_deadline(this.clock, this.sleep, cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// A service that tells the clock when a request starts and when its response has been sent.
#[derive(Debug, Clone)]
pub(super) struct Tracked<S> {
    inner: S,
    clock: Clock,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, clock: Clock) -> Self {
        Self { inner, clock }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Tracked<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<TrackedBody<ResB>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let in_flight = Some(self.clock.request_started());
        TrackedFuture {
            inner: self.inner.call(request),
            in_flight,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Tracked`].
    #[derive(Debug)]
    pub(super) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let in_flight = this.in_flight.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, in_flight })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its request's [`InFlight`] when it ends or is dropped.
    #[derive(Debug)]
    pub(super) struct TrackedBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.in_flight.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
