//! The thread that receives a run's seccomp listener and then serves it: one thread per
//! run, not one for the first exec and another for the broker (see `spawn` and
//! `Broker::spawn_thread`). Below both, so neither depends on the other for it.

/// Boxed so that one type carries any job (the broker's loop, see `Broker::spawn_thread`).
pub(crate) type ListenerJob = Box<dyn FnOnce() + Send>;

/// The thread that receives the seccomp listener and lets the command's execs through while
/// `Command::spawn` waits (`pass_first_exec`; its result is `T`), then — instead of ending,
/// and another thread being started for the broker — waits for its second job: serving the
/// listener for the rest of the run (`Broker::spawn_thread`). Starting a thread costs its own
/// clone, stack faults, signal stack and exit; a run needs one.
#[derive(Debug)]
pub(crate) struct ListenerThread<T> {
    handle: std::thread::JoinHandle<()>,
    job: std::sync::mpsc::SyncSender<ListenerJob>,
    first: std::sync::mpsc::Receiver<T>,
}

impl<T: Send + 'static> ListenerThread<T> {
    /// Start the thread on `first` (its first job).
    pub(crate) fn start(first: impl FnOnce() -> T + Send + 'static) -> std::io::Result<Self> {
        let (first_tx, first_rx) = std::sync::mpsc::sync_channel(1);
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<ListenerJob>(1);
        let handle = std::thread::Builder::new()
            .name("nono-notify".into())
            .spawn(move || {
                if first_tx.send(first()).is_err() {
                    return;
                }
                drop(first_tx);
                // No second job (the sender was dropped): the thread ends here.
                if let Ok(job) = job_rx.recv() {
                    job();
                }
            })?;
        Ok(ListenerThread {
            handle,
            job: job_tx,
            first: first_rx,
        })
    }

    /// Wait for the first job's result (as a join did); `None` if the thread ended without
    /// one.
    pub(crate) fn first(self) -> (Option<T>, Self) {
        let first = self.first.recv().ok();
        (first, self)
    }
}

impl<T> ListenerThread<T> {
    /// Give the thread its second job. Returns the job if the thread is gone.
    pub(crate) fn serve(
        self,
        job: ListenerJob,
    ) -> Result<std::thread::JoinHandle<()>, ListenerJob> {
        match self.job.send(job) {
            Ok(()) => Ok(self.handle),
            Err(std::sync::mpsc::SendError(job)) => {
                let _ = self.handle.join();
                Err(job)
            }
        }
    }

    /// No second job: the thread ends (waited for).
    pub(crate) fn finish(self) {
        drop(self.job);
        let _ = self.handle.join();
    }
}
