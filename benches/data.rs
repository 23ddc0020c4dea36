//! Deterministic file contents that compress like real layers do, shared by the benches.

/// Deterministic xorshift so every run measures the same bytes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "the",
    "package",
    "version",
    "install",
    "config",
    "library",
    "function",
    "return",
    "error",
    "value",
    "struct",
    "include",
    "define",
    "static",
    "const",
    "string",
    "buffer",
    "length",
    "memory",
    "system",
    "debian",
    "usr",
    "lib",
    "share",
    "doc",
    "copyright",
    "license",
    "GPL",
    "MIT",
    "Apache",
    "python3",
    "node_modules",
    "index",
    "module",
    "export",
    "import",
    "require",
    "true",
    "false",
    "null",
    "0x7f",
    "amd64",
    "x86_64",
    "linux",
    "gnu",
    "libc6",
];

/// A file's worth of text (source, docs, configs): the bulk of a real layer compresses ~3-5x.
pub fn text_file(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        out.extend_from_slice(word.as_bytes());
        out.push(match rng.below(12) {
            0 => b'\n',
            1 => b'_',
            2 => b'.',
            _ => b' ',
        });
        if rng.below(20) == 0 {
            out.extend_from_slice(format!("{}", rng.next() % 100_000).as_bytes());
        }
    }
    out.truncate(size);
    out
}

/// A binary's worth of bytes: machine code is partly random, partly repetitive.
pub fn binary_file(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        if rng.below(3) == 0 {
            let run = 64 + rng.below(512) as usize;
            for _ in 0..run {
                out.push((rng.next() & 0xff) as u8);
            }
        } else {
            let start = out.len().saturating_sub(1 + rng.below(4096) as usize);
            let len = (16 + rng.below(240) as usize).min(out.len() - start);
            for i in 0..len {
                out.push(out[start + i]);
            }
            if len == 0 {
                out.push(0);
            }
        }
    }
    out.truncate(size);
    out
}
