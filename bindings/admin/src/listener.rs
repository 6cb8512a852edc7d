//! The listening socket, with `TCP_NODELAY` set so that connections
//! accepted from it inherit it (Linux and the BSDs copy it to accepted
//! sockets). tiny_http writes a response's head and a body larger than its
//! 1 KiB buffer in two writes; with Nagle's algorithm on, the body waits for
//! the client's delayed ACK of the head, about 40 ms per response on a
//! keep-alive connection (a Prometheus scrape, the page's polling).

use std::io;
use std::net::{SocketAddr, TcpListener};

/// A listener on `addr` with `TCP_NODELAY` on (where the platform has it).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    set_nodelay(&listener)?;
    Ok(listener)
}

#[cfg(unix)]
fn set_nodelay(listener: &TcpListener) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is the listener's own, open for the whole call;
    // the option value points at a live c_int whose size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn set_nodelay(_: &TcpListener) -> io::Result<()> {
    Ok(())
}

/// Stop listening now, through `listener` (a clone of the server's): the
/// socket leaves the listening state at once, for every descriptor that
/// shares it, so the port can be bound again when this returns; tiny_http's
/// accept thread, woken with an error, ends and closes its descriptor.
/// (Dropping the server alone only asks that thread to stop, later.)
#[cfg(unix)]
pub(crate) fn close(listener: TcpListener) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: the descriptor is open (owned by `listener`) for the whole
    // call; shutdown only changes the socket's state.
    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
}

#[cfg(not(unix))]
pub(crate) fn close(_: TcpListener) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpStream};
    use std::os::unix::io::AsRawFd;

    fn nodelay(fd: i32) -> libc::c_int {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a live descriptor; v and len are live and sized for the call.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        v
    }

    #[test]
    fn accepted_connections_have_nodelay() {
        let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        assert_ne!(nodelay(listener.as_raw_fd()), 0);
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_ne!(
            nodelay(accepted.as_raw_fd()),
            0,
            "inherited from the listener"
        );
    }
}
