//! The memory-balance workload: request classes, agendas and virtual clients.

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
    /// Spawns a CGI child for its CPU phase.
    pub cgi: bool,
}

/// The classes: HTML page, GIF image, CGI bulletin-board read, CGI form POST.
pub const CLASSES: [ReqClass; 4] = [
    ReqClass {
        name: "html",
        resp_bytes: 8 * 1024,
        req_bytes: 300,
        cpu_ms: 3.0,
        cgi: false,
    },
    ReqClass {
        name: "gif",
        resp_bytes: 5 * 1024,
        req_bytes: 300,
        cpu_ms: 1.0,
        cgi: false,
    },
    ReqClass {
        name: "board",
        resp_bytes: 16 * 1024,
        req_bytes: 400,
        cpu_ms: 25.0,
        cgi: true,
    },
    ReqClass {
        name: "post",
        resp_bytes: 2 * 1024,
        req_bytes: 2 * 1024,
        cpu_ms: 35.0,
        cgi: true,
    },
];

#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) rng: Rng,
    pub(crate) agenda: Vec<u8>,
    /// Think before request i (0: follows at once).
    pub(crate) think: Vec<f64>,
    pub(crate) pos: usize,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    pub(crate) client: u32,
    pub(crate) port: u16,
    pub(crate) class: u8,
    pub(crate) server: u16,
    pub(crate) work_us: f64,
    pub(crate) start_us: u64,
}

pub(crate) fn build_clients(cfg: &MemoryConfig) -> (Vec<Client>, Vec<u64>) {
    let batches = (cfg.duration_s / cfg.batch_interval_s).ceil().max(1.0) as u32;
    let n = batches * cfg.clients_per_batch;
    let mut clients = Vec::with_capacity(n as usize);
    let mut starts = Vec::with_capacity(n as usize);
    let [pages, reads, posts] = cfg.agenda;
    for i in 0..n {
        let mut rng = Rng::new(cfg.seed, 1000 + i as u64);
        let b = i / cfg.clients_per_batch.max(1);
        let start = (b as f64 + rng.unit()) * cfg.batch_interval_s;
        // page views in random order; each page is followed at once by its images
        let mut views: Vec<u8> = std::iter::repeat_n(0u8, pages as usize)
            .chain(std::iter::repeat_n(2u8, reads as usize))
            .chain(std::iter::repeat_n(3u8, posts as usize))
            .collect();
        for j in (1..views.len()).rev() {
            let k = rng.below(j as u64 + 1) as usize;
            views.swap(j, k);
        }
        let mut agenda = Vec::new();
        let mut think = Vec::new();
        for (vi, &v) in views.iter().enumerate() {
            agenda.push(v);
            think.push(if vi == 0 { 0.0 } else { rng.exp(cfg.think_s) });
            if v == 0 {
                for _ in 0..cfg.gifs_per_page {
                    agenda.push(1);
                    think.push(0.0);
                }
            }
        }
        clients.push(Client {
            rng,
            agenda,
            think,
            pos: 0,
        });
        starts.push((start * 1e6) as u64);
    }
    (clients, starts)
}
