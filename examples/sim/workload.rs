//! The memory-balance workload: request classes, the published agenda and virtual clients.

use super::*;

/// A request class of the memory-balance workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReqClass {
    /// Name.
    pub name: &'static str,
    /// Response bytes.
    pub resp_bytes: u64,
    /// Request bytes (the POST body, headers).
    pub req_bytes: u64,
    /// Mean CPU time at full speed, ms (exponentially distributed).
    pub cpu_ms: f64,
    /// Mean time spent waiting for the disk after the CPU phase, ms (exponentially
    /// distributed; the CPU is free meanwhile, the processes keep their memory).
    pub io_ms: f64,
    /// Spawns a CGI child (Perl) for its CPU and I/O phases.
    pub cgi: bool,
    /// Mean disk service time of the CGI's writes after its response has left and the
    /// connection is closed, ms (exponentially distributed, on the server's one disk, first
    /// come first served; the CGI child keeps its memory until they are done). 0: none.
    pub tail_ms: f64,
}

/// Index of the HTML class in [`CLASSES`].
pub const HTML: u8 = 0;
/// Index of the GIF class.
pub const GIF: u8 = 1;
/// Index of the bulletin-board list (CGI GET).
pub const BOARD: u8 = 2;
/// Index of the board's write form (CGI GET).
pub const FORM: u8 = 3;
/// Index of the board's POST (CGI, writes a file).
pub const POST: u8 = 4;

/// One random write of a disk of the study's time (about 9 ms seek and 4 ms half a turn at
/// 7200 rpm), ms: the unit of the CGIs' post-response disk work ([`ReqClass::tail_ms`]). An
/// assumption, not a fitted value.
pub const DISK_WRITE_MS: f64 = 13.0;

/// The classes of the published site: HTML page, GIF image, and the Perl bulletin board's list,
/// form and POST (CGI). Sizes and times are this model's assumptions (docs/simulation.md).
pub const CLASSES: [ReqClass; 5] = [
    ReqClass {
        name: "html",
        resp_bytes: 8 * 1024,
        req_bytes: 300,
        cpu_ms: 1.0,
        io_ms: 0.0,
        cgi: false,
        tail_ms: 0.0,
    },
    ReqClass {
        name: "gif",
        resp_bytes: 3 * 1024,
        req_bytes: 300,
        cpu_ms: 0.3,
        io_ms: 0.0,
        cgi: false,
        tail_ms: 0.0,
    },
    ReqClass {
        name: "board",
        resp_bytes: 16 * 1024,
        req_bytes: 400,
        cpu_ms: 8.0,
        io_ms: 30.0,
        cgi: true,
        tail_ms: 0.0,
    },
    ReqClass {
        name: "form",
        resp_bytes: 6 * 1024,
        req_bytes: 400,
        cpu_ms: 5.0,
        io_ms: 10.0,
        cgi: true,
        tail_ms: 0.0,
    },
    ReqClass {
        name: "post",
        resp_bytes: 2 * 1024,
        req_bytes: 1024 + 600,
        cpu_ms: 10.0,
        io_ms: 60.0,
        cgi: true,
        tail_ms: 3.0 * DISK_WRITE_MS,
    },
];

/// The published agenda (Figure 6 of the memory-feedback study), 40 requests replayed in
/// order. The figure shows the bulletin-board part: a book-cover GIF, the board list
/// (`board.cgi`), seven button GIFs, the write form (`board.cgi?j=form`) and a 1 KB POST. The
/// rest of the 40 "html documents, graphic files and CGI applications" is not listed; this
/// model fills it with the site's index page and its images: index + 5 GIFs, the board part
/// three times, a second page + 3 GIFs. 2 HTML, 29 GIF and 9 CGI requests.
pub fn figure6_agenda() -> Vec<u8> {
    let mut a = vec![HTML, GIF, GIF, GIF, GIF, GIF];
    for _ in 0..3 {
        a.push(BOARD);
        a.extend([GIF; 7]);
        a.push(FORM);
        a.push(POST);
    }
    a.extend([HTML, GIF, GIF, GIF]);
    a
}

/// Parses an agenda given as letters: `h` HTML, `g` GIF, `b` board, `f` form, `p` POST.
pub fn parse_agenda(s: &str) -> Option<Vec<u8>> {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'h' => Some(HTML),
            'g' => Some(GIF),
            'b' => Some(BOARD),
            'f' => Some(FORM),
            'p' => Some(POST),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|a| !a.is_empty())
}

#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) rng: Rng,
    /// Think before request i (0: follows the previous response at once).
    pub(crate) think: Vec<f64>,
    pub(crate) pos: usize,
}

/// The virtual clients and their start times (µs). Each load server creates
/// `clients_per_batch` clients every `batch_interval_s`; a client starts at a uniform moment
/// within the first `ramp_s` (default: all) of its batch's interval, replays the agenda in order and disappears. Before every
/// non-GIF request (a new page) it thinks for an exponential time of mean `think_s`; images
/// follow their page at once. Every client has its own random stream (common random numbers
/// across variants).
pub(crate) fn build_clients(cfg: &MemoryConfig) -> (Vec<Client>, Vec<u64>) {
    let batches = (cfg.duration_s / cfg.batch_interval_s).ceil().max(1.0) as u32;
    let per_batch = cfg.clients_per_batch * cfg.load_servers;
    let n = batches * per_batch;
    let mut clients = Vec::with_capacity(n as usize);
    let mut starts = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut rng = Rng::new(cfg.seed, 1000 + i as u64);
        let b = i / per_batch.max(1);
        let ramp = cfg.ramp_s.unwrap_or(cfg.batch_interval_s);
        let start = b as f64 * cfg.batch_interval_s + rng.unit() * ramp;
        let think = cfg
            .agenda
            .iter()
            .enumerate()
            .map(|(j, &c)| {
                if j == 0 || c == GIF {
                    0.0
                } else {
                    rng.exp(cfg.think_s)
                }
            })
            .collect();
        clients.push(Client { rng, think, pos: 0 });
        starts.push((start * 1e6) as u64);
    }
    (clients, starts)
}
