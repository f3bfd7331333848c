//! `Dual<F>`: one async operation, two ways to call it.

use alloc::boxed::Box;
use core::fmt;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};

/// A future that can also be waited for synchronously.
///
/// `Dual<F>` is a [`Future`], so async callers `.await` it (under `amphi`, Tokio, smol,
/// `futures`, anything) or pass it to `join`/`select`; sync callers call [`wait`](Dual::wait),
/// which runs it with [`block_on`](crate::block_on) on the calling thread — from `main`, from any
/// number of threads at once, from inside an `amphi` task, or from inside a task of another
/// runtime's multi-thread pool.
///
/// Library authors return it from methods written once with [`dual!`](crate::dual!) or
/// [`dual`](crate::dual()).
///
/// # Examples
///
/// ```
/// use amphi::{dual, Dual};
///
/// fn answer() -> Dual<impl Future<Output = u32>> {
///     dual(async { 42 })
/// }
///
/// assert_eq!(answer().wait(), 42);                      // sync caller
/// assert_eq!(amphi::block_on(async { answer().await }), 42); // async caller
/// ```
#[must_use = "a Dual does nothing until it is awaited or waited for"]
pub struct Dual<F> {
    inner: Inner<F>,
}

enum Inner<F> {
    /// Not yet polled outside a pinned context: can be moved.
    Inline(F),
    /// Given back by `wait_timeout` after it was polled: pinned on the heap.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    Boxed(Pin<Box<F>>),
}

/// Wraps a future (or anything [`IntoFuture`]) into a [`Dual`].
///
/// # Examples
///
/// ```
/// let fut = amphi::dual(async { "hi" });
/// assert_eq!(fut.wait(), "hi");
/// ```
pub fn dual<F: IntoFuture>(future: F) -> Dual<F::IntoFuture> {
    Dual { inner: Inner::Inline(future.into_future()) }
}

impl<F: Future> Dual<F> {
    /// Runs the operation to completion on the calling thread and returns its output.
    ///
    /// The same as [`block_on`](crate::block_on)`(self)`: parks the thread between wake-ups, works
    /// nested and inside tasks. Inside a task of a *single-threaded* runtime (Tokio's
    /// current-thread runtime, the `tokio` feature's shared one included), a future that needs
    /// that runtime's own driver (its timers or sockets) cannot progress while the thread waits
    /// here: use
    /// `wait_timeout` (std) there, or `.await`. A future that needs Tokio's reactor (reqwest,
    /// `tokio::net`) needs the `tokio` feature; see [`block_on`](crate::block_on).
    ///
    /// # Examples
    ///
    /// ```
    /// let n = amphi::dual(async { 2 + 2 }).wait();
    /// assert_eq!(n, 4);
    /// ```
    pub fn wait(self) -> F::Output {
        match self.inner {
            Inner::Inline(f) => crate::block_on(f),
            Inner::Boxed(f) => crate::block_on(f),
        }
    }

    /// Runs the operation on the calling thread for at most `timeout`.
    ///
    /// # Errors
    ///
    /// On timeout, the operation comes back unfinished, as a `Dual` that can be waited for or
    /// awaited again (it then continues where it stopped), or dropped to cancel it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let never = amphi::dual(futures_lite::future::pending::<()>());
    /// let again = never.wait_timeout(Duration::from_millis(10)).unwrap_err();
    /// # drop(again);
    /// assert_eq!(amphi::dual(async { 1 }).wait_timeout(Duration::from_secs(1)).unwrap(), 1);
    /// ```
    #[cfg(feature = "std")]
    pub fn wait_timeout(self, timeout: core::time::Duration) -> Result<F::Output, Self> {
        let deadline = std::time::Instant::now() + timeout;
        let mut boxed = match self.inner {
            Inner::Inline(f) => Box::pin(f),
            Inner::Boxed(f) => f,
        };
        match crate::block_on::block_on_deadline(boxed.as_mut(), deadline) {
            Some(out) => Ok(out),
            None => Err(Self { inner: Inner::Boxed(boxed) }),
        }
    }
}

impl<F: Future> Future for Dual<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: once `Dual` is pinned it is never moved and its
        // variant never changes (only the by-value `wait_timeout` switches variants).
        match unsafe { &mut self.get_unchecked_mut().inner } {
            // SAFETY: see above; the inline future is pinned because `Dual` is.
            Inner::Inline(f) => unsafe { Pin::new_unchecked(f) }.poll(cx),
            Inner::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

impl<F> fmt::Debug for Dual<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dual").finish_non_exhaustive()
    }
}

/// Turns `async fn` items and methods into functions returning [`Dual`], callable with `.await`
/// or `.wait()`.
///
/// Each `async fn name(args) -> T { body }` becomes
/// `fn name(args) -> Dual<impl Future<Output = T>> { dual(async move { body }) }`, keeping its
/// attributes, visibility, generics and `where` clause; the future borrows what the arguments
/// borrow, like an `async fn`'s. Bounds that contain parentheses (`F: Fn(u8)`) go in the `where`
/// clause.
///
/// # Examples
///
/// ```
/// struct Client { base: u32 }
///
/// impl Client {
///     amphi::dual! {
///         /// Adds to the base, asynchronously.
///         pub async fn add(&self, n: u32) -> u32 {
///             futures_lite::future::yield_now().await;
///             self.base + n
///         }
///
///         pub async fn ping(&self) {}
///     }
/// }
///
/// let client = Client { base: 40 };
/// assert_eq!(client.add(2).wait(), 42);                          // sync
/// assert_eq!(amphi::block_on(async { client.add(1).await }), 41); // async
/// client.ping().wait();
/// ```
///
/// It works the same in crates of the 2021 edition:
///
/// ```edition2021
/// amphi::dual! {
///     pub async fn first<'a, T: Clone>(items: &'a [T], fallback: &'a T) -> T where T: Send {
///         items.first().unwrap_or(fallback).clone()
///     }
/// }
/// let v = vec![3, 4];
/// assert_eq!(first(&v, &0).wait(), 3);
/// ```
#[macro_export]
macro_rules! dual {
    () => {};
    ($(#[$attr:meta])* $vis:vis async fn $name:ident $($rest:tt)*) => {
        $crate::__dual_fn! { @generics [$(#[$attr])* $vis fn $name] [] $($rest)* }
    };
}

/// The muncher behind [`dual!`]; not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __dual_fn {
    // Generics: everything up to the argument list.
    (@generics [$($head:tt)*] [$($gen:tt)*] ($($args:tt)*) $($rest:tt)*) => {
        $crate::__dual_fn! { @ret [$($head)*] [$($gen)*] [$($args)*] $($rest)* }
    };
    (@generics [$($head:tt)*] [$($gen:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__dual_fn! { @generics [$($head)*] [$($gen)* $t] $($rest)* }
    };
    // Return type: `-> T`, or `()` when absent.
    (@ret [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] -> $($rest:tt)*) => {
        $crate::__dual_fn! { @ty [$($head)*] [$($gen)*] [$($args)*] [] $($rest)* }
    };
    (@ret [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] $($rest:tt)*) => {
        $crate::__dual_fn! { @where [$($head)*] [$($gen)*] [$($args)*] [()] [] $($rest)* }
    };
    (@ty [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] where $($rest:tt)*) => {
        $crate::__dual_fn! { @where [$($head)*] [$($gen)*] [$($args)*] [$($ty)*] [where] $($rest)* }
    };
    (@ty [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] {$($body:tt)*} $($rest:tt)*) => {
        $crate::__dual_fn! { @emit [$($head)*] [$($gen)*] [$($args)*] [$($ty)*] [] {$($body)*} }
        $crate::dual! { $($rest)* }
    };
    (@ty [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__dual_fn! { @ty [$($head)*] [$($gen)*] [$($args)*] [$($ty)* $t] $($rest)* }
    };
    // Where clause: everything up to the body.
    (@where [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] [$($wc:tt)*] {$($body:tt)*} $($rest:tt)*) => {
        $crate::__dual_fn! { @emit [$($head)*] [$($gen)*] [$($args)*] [$($ty)*] [$($wc)*] {$($body)*} }
        $crate::dual! { $($rest)* }
    };
    (@where [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] [$($wc:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__dual_fn! { @where [$($head)*] [$($gen)*] [$($args)*] [$($ty)*] [$($wc)* $t] $($rest)* }
    };
    (@emit [$($head:tt)*] [$($gen:tt)*] [$($args:tt)*] [$($ty:tt)*] [$($wc:tt)*] {$($body:tt)*}) => {
        $($head)* $($gen)* ($($args)*)
            -> $crate::Dual<impl ::core::future::Future<Output = $($ty)*>>
        $($wc)*
        {
            $crate::dual(async move { $($body)* })
        }
    };
}
