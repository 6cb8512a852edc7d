//! One breaker shared by a parent and a forked child, through a
//! memory-mapped file (`fusebox::shm`): the child's failures open the
//! breaker, and the parent sees it open without a single failure of its own.
//! This is how pre-forked workers (gunicorn, Node cluster, C servers) share
//! one breaker per dependency.
//!
//! `cargo run -p fusebox --example shared_fork` (unix only)

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use fusebox::shm::SharedRegistry;
    use fusebox::Config;

    let dir = std::env::temp_dir().join(format!("fusebox-fork-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("breakers.fusebox");
    let config = Config::builder().consecutive_failures(Some(5)).build()?;

    let registry = SharedRegistry::builder().capacity(8).open(&path)?;
    let breaker = registry.get_or_create("payments", &config)?;
    println!("parent: breaker {}", breaker.state().as_str());

    // SAFETY: fork() has no preconditions; the child below only records
    // outcomes on the shared mapping and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        // The child: its calls to the dependency fail.
        let code = match registry.get_or_create("payments", &config) {
            Ok(b) => {
                for _ in 0..5 {
                    if let Ok(permit) = b.try_acquire() {
                        permit.failure();
                    }
                }
                println!(
                    "child:  5 failures recorded, breaker {}",
                    b.state().as_str()
                );
                0
            }
            Err(_) => 1,
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }

    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid place to write to.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(std::io::Error::last_os_error().into());
    }
    let child_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    println!(
        "parent: child exited ({}), breaker {}",
        if child_ok { "ok" } else { "failed" },
        breaker.state().as_str()
    );
    match breaker.try_acquire() {
        Ok(_) => println!("parent: call admitted"),
        Err(r) => println!("parent: call rejected: {r}"),
    }
    let m = breaker.metrics();
    println!(
        "parent: failures seen {}, rejected {}",
        m.failures, m.rejected
    );

    drop((breaker, registry));
    std::fs::remove_dir_all(&dir)?;
    if !child_ok {
        return Err("the child failed".into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    println!("shared_fork needs fork(): unix only");
}
