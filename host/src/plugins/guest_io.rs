//! The guest's stdout and stderr, and the `wasi:io` functions that use them,
//! without ever blocking the thread.
//!
//! wasmtime-wasi's synchronous `wasi:io` bindings run every blocking stream
//! call, and every stream drop, through `Handle::block_on`, which panics on a
//! tokio worker: calls used to be moved off the worker (`block_in_place`) for
//! the sake of a guest's rare write to stderr. Here the guest's streams are
//! in-memory buffers that are always ready, and `wasi:io/streams` and
//! `wasi:io/poll` are re-linked over wasmtime-wasi's with the same resource
//! types, finishing each of those futures by polling it, never waiting. A
//! guest that would really have to wait (a sleep) gets an error instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::io::streams::{
    HostInputStream as AsyncInputStream, HostOutputStream as AsyncOutputStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, OutputStream, Pollable};
use wasmtime_wasi::p2::{StreamError, StreamResult, UdpSocket};
use wasmtime_wasi::runtime::{poll_noop, with_ambient_tokio_runtime};

use super::state::CallState;

/// What one guest stream wrote: the first `cap` bytes, and a count of the
/// rest, which is dropped. Writing never fails and never waits, so a guest
/// printing megabytes costs neither memory nor a trap.
#[derive(Clone)]
pub struct GuestOutput(Arc<Mutex<Written>>);

struct Written {
    kept: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl GuestOutput {
    /// A buffer keeping at most `cap` bytes.
    pub fn new(cap: usize) -> GuestOutput {
        GuestOutput(Arc::new(Mutex::new(Written { kept: Vec::new(), cap, dropped: 0 })))
    }

    fn lock(&self) -> MutexGuard<'_, Written> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, bytes: &[u8]) {
        let mut w = self.lock();
        let n = w.cap.saturating_sub(w.kept.len()).min(bytes.len());
        w.kept.extend_from_slice(&bytes[..n]);
        w.dropped += (bytes.len() - n) as u64;
    }

    /// The bytes kept.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().kept.clone()
    }

    /// How many bytes were written past the cap.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    /// Always writable.
    async fn ready(&mut self) {}
}

/// The permit offered to each write (the guest may write this much at once).
const PERMIT: usize = 64 * 1024;

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(PERMIT)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Links `wasi:io/streams` and `wasi:io/poll` over the ones
/// `wasmtime_wasi::p2::add_to_linker_sync` put in `linker`. Guests importing
/// any 0.2.x version resolve to these.
pub fn relink(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    poll::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    streams::add_to_linker::<CallState, HasSelf<CallState>>(linker, |s| s)?;
    // wasmtime-wasi's version waits on the runtime before it checks that UDP
    // is denied; plugins have no network, so the answer is known at once.
    linker.instance("wasi:sockets/udp-create-socket@0.2.12")?.func_wrap(
        "create-udp-socket",
        |_: wasmtime::StoreContextMut<'_, CallState>, (_family,): (IpAddressFamily,)| {
            Ok((Err::<Resource<UdpSocket>, _>(ErrorCode::AccessDenied),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Finishes `future` by polling it: every stream a guest has is always
/// ready, so a future still pending after a few polls would have to wait
/// for real (a sleep), which a plugin may not do.
fn at_once<F: Future>(future: F) -> wasmtime::Result<F::Output> {
    let mut future = std::pin::pin!(future);
    with_ambient_tokio_runtime(|| {
        for _ in 0..4 {
            if let Some(out) = poll_noop(future.as_mut()) {
                return Ok(out);
            }
        }
        Err(wasmtime::format_err!("the plugin tried to wait on WASI I/O (a sleep or a poll), which plugins may not do"))
    })
}

type Out = Resource<DynOutputStream>;
type In = Resource<DynInputStream>;

impl streams::Host for CallState {
    fn convert_stream_error(&mut self, e: StreamError) -> wasmtime::Result<streams::StreamError> {
        <ResourceTable as streams::Host>::convert_stream_error(self.table(), e)
    }
}

impl streams::HostOutputStream for CallState {
    fn drop(&mut self, s: Out) -> wasmtime::Result<()> {
        at_once(AsyncOutputStream::drop(self.table(), s))?
    }

    fn check_write(&mut self, s: Out) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.table(), s)
    }

    fn write(&mut self, s: Out, bytes: Vec<u8>) -> StreamResult<()> {
        streams::HostOutputStream::write(self.table(), s, bytes)
    }

    fn blocking_write_and_flush(&mut self, s: Out, bytes: Vec<u8>) -> StreamResult<()> {
        at_once(AsyncOutputStream::blocking_write_and_flush(self.table(), s, bytes)).map_err(StreamError::Trap)?
    }

    fn blocking_write_zeroes_and_flush(&mut self, s: Out, len: u64) -> StreamResult<()> {
        at_once(AsyncOutputStream::blocking_write_zeroes_and_flush(self.table(), s, len)).map_err(StreamError::Trap)?
    }

    fn subscribe(&mut self, s: Out) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.table(), s)
    }

    fn write_zeroes(&mut self, s: Out, len: u64) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.table(), s, len)
    }

    fn flush(&mut self, s: Out) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.table(), s)
    }

    fn blocking_flush(&mut self, s: Out) -> StreamResult<()> {
        at_once(AsyncOutputStream::blocking_flush(self.table(), s)).map_err(StreamError::Trap)?
    }

    fn splice(&mut self, d: Out, s: In, len: u64) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.table(), d, s, len)
    }

    fn blocking_splice(&mut self, d: Out, s: In, len: u64) -> StreamResult<u64> {
        at_once(AsyncOutputStream::blocking_splice(self.table(), d, s, len)).map_err(StreamError::Trap)?
    }
}

impl streams::HostInputStream for CallState {
    fn drop(&mut self, s: In) -> wasmtime::Result<()> {
        at_once(AsyncInputStream::drop(self.table(), s))?
    }

    fn read(&mut self, s: In, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.table(), s, len)
    }

    fn blocking_read(&mut self, s: In, len: u64) -> StreamResult<Vec<u8>> {
        at_once(AsyncInputStream::blocking_read(self.table(), s, len)).map_err(StreamError::Trap)?
    }

    fn skip(&mut self, s: In, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.table(), s, len)
    }

    fn blocking_skip(&mut self, s: In, len: u64) -> StreamResult<u64> {
        at_once(AsyncInputStream::blocking_skip(self.table(), s, len)).map_err(StreamError::Trap)?
    }

    fn subscribe(&mut self, s: In) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.table(), s)
    }
}

impl poll::Host for CallState {
    fn poll(&mut self, list: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once(async_poll::Host::poll(self.table(), list))?
    }
}

impl poll::HostPollable for CallState {
    fn ready(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<bool> {
        at_once(async_poll::HostPollable::ready(self.table(), p))?
    }

    fn block(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        at_once(async_poll::HostPollable::block(self.table(), p))?
    }

    fn drop(&mut self, p: Resource<DynPollable>) -> wasmtime::Result<()> {
        <ResourceTable as poll::HostPollable>::drop(self.table(), p)
    }
}
