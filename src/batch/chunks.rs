//! The reading side of a batch: a thread that reads rows (lines, UTF-8 checks, gzip) into
//! chunks ahead of scoring, so that the cores do not wait on it.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::Row;
use crate::error::{Error, Result};

/// Full chunks the reader may hold ahead of the batch.
const AHEAD: usize = 2;

/// Rows handed from the reading thread to the batch, a chunk at a time.
///
/// Why not a channel of chunks: a chunk went over only once full, so the rows of a slow
/// stream (a producer on stdin) waited until enough came to fill one. Here the rows of the
/// chunk being filled are shared too, and the batch takes them when no full chunk has come
/// for a moment ([`Chunks::wait`]). Rows still leave in the order they were read: the one
/// lock orders full chunks before the rows of the one being filled.
pub(super) struct Chunks {
    shared: Arc<(Mutex<State>, Condvar)>,
}

#[derive(Default)]
struct State {
    filling: Vec<Row>,
    full: VecDeque<Vec<Row>>,
    /// The rows have ended: nothing more will come.
    ended: bool,
    /// The batch has gone (finished early): the reader stops at its next row.
    dropped: bool,
    /// Chunks the batch is done with, for the reader to free: what a thread allocates is
    /// cheapest freed by that thread.
    spent: Vec<Vec<Row>>,
}

/// What [`Chunks`] hands the batch next.
pub(super) enum Next {
    Chunk(Vec<Row>),
    /// No rows yet: the input is behind.
    Waiting,
    End,
}

impl Chunks {
    /// Starts reading `rows` on a thread of its own, in chunks of `chunk_rows`. The thread
    /// is not joined: when the batch returns early (too many bad rows, a write error), it
    /// stops at its next row.
    pub(super) fn spawn(mut rows: impl Iterator<Item = Row> + Send + 'static, chunk_rows: usize) -> Result<Chunks> {
        let chunk_rows = chunk_rows.max(1);
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let reader = shared.clone();
        std::thread::Builder::new()
            .name("batch-reader".into())
            .spawn(move || {
                let (state, changed) = &*reader;
                loop {
                    let row = rows.next();
                    let mut s = lock(state);
                    if s.dropped {
                        return;
                    }
                    if !s.spent.is_empty() {
                        // Freed outside the lock, which the batch may be waiting for.
                        let spent = std::mem::take(&mut s.spent);
                        drop(s);
                        drop(spent);
                        s = lock(state);
                    }
                    let Some(row) = row else {
                        let last = std::mem::take(&mut s.filling);
                        if !last.is_empty() {
                            s.full.push_back(last);
                        }
                        s.ended = true;
                        changed.notify_all();
                        return;
                    };
                    s.filling.push(row);
                    if s.filling.len() >= chunk_rows {
                        let chunk = std::mem::take(&mut s.filling);
                        s.full.push_back(chunk);
                        changed.notify_all();
                        let s = changed
                            .wait_while(s, |s| s.full.len() >= AHEAD && !s.dropped)
                            .unwrap_or_else(PoisonError::into_inner);
                        if s.dropped {
                            return;
                        }
                    }
                }
            })
            .map_err(|e| Error::io("<reader thread>", e))?;
        Ok(Chunks { shared })
    }

    /// Hands a processed chunk back to the reader, which frees it.
    pub(super) fn give_back(&self, chunk: Vec<Row>) {
        lock(&self.shared.0).spent.push(chunk);
    }

    /// The next full chunk, or the end, when either is there already.
    pub(super) fn ready(&self) -> Option<Next> {
        let (state, changed) = &*self.shared;
        Self::take_full(&mut lock(state), changed)
    }

    /// Waits up to `wait` for a full chunk; when none has come, takes the rows read so far.
    /// Short waits keep a slow stream's rows flowing (each is back within about `wait`) and
    /// let the batch see a stop request while the input stalls.
    pub(super) fn wait(&self, wait: Duration) -> Next {
        let (state, changed) = &*self.shared;
        let (mut s, _) = changed
            .wait_timeout_while(lock(state), wait, |s| s.full.is_empty() && !s.ended)
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = Self::take_full(&mut s, changed) {
            return next;
        }
        match std::mem::take(&mut s.filling) {
            rows if rows.is_empty() => Next::Waiting,
            rows => Next::Chunk(rows),
        }
    }

    fn take_full(s: &mut State, changed: &Condvar) -> Option<Next> {
        if let Some(chunk) = s.full.pop_front() {
            changed.notify_all();
            return Some(Next::Chunk(chunk));
        }
        s.ended.then_some(Next::End)
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        let (state, changed) = &*self.shared;
        lock(state).dropped = true;
        changed.notify_all();
    }
}

/// The state, also after a panic elsewhere: rows are only moved under the lock, never
/// left half-changed.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::RawRow;

    fn row(n: usize) -> Row {
        (n, RawRow::Line(n.to_string()))
    }

    fn lines(chunk: &[Row]) -> Vec<usize> {
        chunk.iter().map(|(n, _)| *n).collect()
    }

    /// The next chunk or the end, waiting as the batch does.
    fn next(chunks: &Chunks) -> Option<Vec<usize>> {
        loop {
            match chunks.ready().unwrap_or_else(|| chunks.wait(Duration::from_millis(50))) {
                Next::Chunk(c) => return Some(lines(&c)),
                Next::Waiting => continue,
                Next::End => return None,
            }
        }
    }

    #[test]
    fn every_row_comes_once_in_order_in_chunks_of_at_most_the_size() {
        let chunks = Chunks::spawn((1..=10_007).map(row), 100).unwrap();
        let mut all = Vec::new();
        while let Some(c) = next(&chunks) {
            assert!(!c.is_empty() && c.len() <= 100, "{}", c.len());
            all.extend(c);
        }
        assert_eq!(all, (1..=10_007).collect::<Vec<_>>());
    }

    #[test]
    fn rows_of_a_stalled_input_are_taken_before_their_chunk_fills() {
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let chunks = Chunks::spawn(rx.into_iter().map(row), 1000).unwrap();
        let mut all = Vec::new();
        for batch in [vec![1, 2, 3], vec![4], vec![5, 6]] {
            for &n in &batch {
                tx.send(n).unwrap();
            }
            // The reader then waits on the input; the rows in must come out all the same.
            let mut got = Vec::new();
            while got.len() < batch.len() {
                got.extend(next(&chunks).expect("not ended"));
            }
            assert_eq!(got, batch);
            all.extend(got);
        }
        drop(tx);
        assert_eq!(next(&chunks), None);
        assert_eq!(all, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn the_reader_stops_when_the_batch_goes() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<usize>(0);
        let chunks = Chunks::spawn(rx.into_iter().map(row), 1).unwrap();
        tx.send(1).unwrap();
        drop(chunks);
        // The reader takes at most the row it was reading, then finds the batch gone and
        // drops its side of the input.
        let _ = tx.send(2);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tx.send(3).is_ok() {
            assert!(std::time::Instant::now() < deadline, "the reader is still reading");
        }
    }
}
