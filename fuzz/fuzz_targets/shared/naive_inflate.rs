//! A naive RFC 1951 inflater, the oracle of `util_deflate` (the crate under test inflates with
//! flate2 + zlib-rs; nothing here comes from either).
//!
//! Written to be obviously right, not fast: bits are read one at a time (RFC 1951 §3.1.1), every
//! Huffman code is built literally by the algorithm of §3.2.2 into a map from (length, code) to
//! symbol, and every output byte of the stream is kept, so a back-reference is checked against
//! the bytes really produced so far and its distance is recorded (`max_distance`): the
//! permessage-deflate window rule (RFC 7692 §7.1.2, "the LZ77 sliding window ... 2^N bytes") is
//! checked on that number, not on what a decoder with a large output buffer lets through.
//!
//! Input arrives in pieces (frames, RFC 7692 §7.2.2's `00 00 ff ff` tail). Decoding goes in
//! steps — a block header (a dynamic one with its code tables), one literal or one length/distance
//! pair, one stored byte, an end of block — and a step that runs out of input is undone and
//! tried again when more arrives, so a step's output appears once all of its bits are in, and an
//! error as soon as the bits read so far prove it, as in zlib. Where RFC 1951 leaves the choice
//! open (incomplete Huffman codes), the rule mirrors zlib's and says so ("zlib:").
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Why the input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not a valid DEFLATE stream (the reason, for messages).
    Invalid(&'static str),
    /// The output went past the limit given to `feed`.
    TooBig,
}

/// Why a step stopped.
enum Stop {
    /// The input ran out: undo the step, wait for more.
    Short,
    Invalid(&'static str),
}

/// The input bits, least significant bit of each byte first (RFC 1951 §3.1.1).
struct Bits {
    input: Vec<u8>,
    /// The next bit to read, counted from the start of the stream.
    pos: usize,
}

impl Bits {
    fn bit(&mut self) -> Result<u16, Stop> {
        let Some(&byte) = self.input.get(self.pos / 8) else {
            return Err(Stop::Short);
        };
        let b = (byte >> (self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u16::from(b))
    }

    /// `n` bits as a number, first bit least significant (§3.1.1: "data elements other than
    /// Huffman codes are packed starting with the least-significant bit").
    fn number(&mut self, n: u32) -> Result<u16, Stop> {
        let mut v = 0;
        for i in 0..n {
            v |= self.bit()? << i;
        }
        Ok(v)
    }
}

/// A Huffman code (§3.2.2): (code length, code) → symbol, and every proper prefix of a code.
struct Code {
    symbols: HashMap<(u32, u16), u16>,
    prefixes: HashSet<(u32, u16)>,
}

/// How much of the code space `lengths` leave unused (in units of the longest code, 2^-15), or
/// `None` when they use more than all of it (over-subscribed: not a prefix code at all).
fn unused_space(lengths: &[u8]) -> Option<u32> {
    let mut left: i64 = 1;
    for len in 1..=15 {
        left = left * 2 - lengths.iter().filter(|&&l| u32::from(l) == len).count() as i64;
        if left < 0 {
            return None;
        }
    }
    Some(left as u32)
}

impl Code {
    /// §3.2.2, steps 1-3, for codes whose space has been checked.
    fn new(lengths: &[u8]) -> Code {
        // 1) count the codes of each length
        let mut bl_count = [0u16; 16];
        for &l in lengths {
            bl_count[usize::from(l)] += 1;
        }
        bl_count[0] = 0;
        // 2) the first code of each length
        let mut next_code = [0u16; 16];
        let mut code = 0u16;
        for bits in 1..16 {
            code = (code + bl_count[bits - 1]) << 1;
            next_code[bits] = code;
        }
        // 3) consecutive codes to the symbols of each length, in symbol order
        let mut symbols = HashMap::new();
        let mut prefixes = HashSet::new();
        for (n, &len) in lengths.iter().enumerate() {
            if len != 0 {
                let l = usize::from(len);
                let c = next_code[l];
                next_code[l] += 1;
                symbols.insert((u32::from(len), c), n as u16);
                for p in 1..u32::from(len) {
                    prefixes.insert((p, c >> (u32::from(len) - p)));
                }
            }
        }
        Code { symbols, prefixes }
    }

    fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Reads one code, bit by bit, most significant bit of the code first (§3.1.1). Fails as soon
    /// as the bits read are neither a code nor the start of one.
    fn decode(&self, bits: &mut Bits) -> Result<u16, Stop> {
        let mut code = 0u16;
        for len in 1..=15 {
            code = (code << 1) | bits.bit()?;
            if let Some(&s) = self.symbols.get(&(len, code)) {
                return Ok(s);
            }
            if !self.prefixes.contains(&(len, code)) {
                return Err(Stop::Invalid("invalid Huffman code"));
            }
        }
        Err(Stop::Invalid("invalid Huffman code"))
    }
}

/// §3.2.6: the fixed literal/length code (286 and 287 take part in the code but never occur)
/// and the fixed distance code (5 bits each; 30 and 31 never occur).
fn fixed() -> &'static (Code, Code) {
    static FIXED: OnceLock<(Code, Code)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let mut lit = [0u8; 288];
        for (i, l) in lit.iter_mut().enumerate() {
            *l = match i {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
        }
        (Code::new(&lit), Code::new(&[5; 32]))
    })
}

/// §3.2.5: base length and extra bits of length symbols 257-285.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// §3.2.5: base distance and extra bits of distance symbols 0-29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Where the decoder is.
enum Block {
    /// Before a block header (§3.2.3).
    Header,
    /// Inside a stored block (§3.2.4), with this many bytes to go.
    Stored(u16),
    /// Inside a Huffman block: literal/length and distance codes; `None` for the fixed ones.
    Huffman(Option<(Code, Code)>),
}

/// A raw DEFLATE stream being inflated.
pub struct Inflater {
    bits: Bits,
    /// Every byte produced since the stream started.
    pub out: Vec<u8>,
    block: Block,
    /// The current block has BFINAL set.
    last: bool,
    /// The final block has ended.
    pub ended: bool,
    /// The longest back-reference distance decoded since the stream started.
    pub max_distance: usize,
}

impl Default for Inflater {
    fn default() -> Inflater {
        Inflater::new()
    }
}

impl Inflater {
    pub fn new() -> Inflater {
        Inflater {
            bits: Bits {
                input: Vec::new(),
                pos: 0,
            },
            out: Vec::new(),
            block: Block::Header,
            last: false,
            ended: false,
            max_distance: 0,
        }
    }

    /// Feeds the next input bytes and decodes all they allow; the stream's output may grow to
    /// `limit` bytes in all. After the final block, any further byte is an error (at the end of
    /// the block, the rest of its last byte is padding).
    pub fn feed(&mut self, bytes: &[u8], limit: usize) -> Result<(), Fault> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.ended {
            return Err(Fault::Invalid("bytes after the end of the stream"));
        }
        self.bits.input.extend_from_slice(bytes);
        loop {
            if self.out.len() > limit {
                return Err(Fault::TooBig);
            }
            let start = self.bits.pos;
            match self.step() {
                Ok(()) if self.ended => {
                    return if self.bits.input.len() > self.bits.pos.div_ceil(8) {
                        Err(Fault::Invalid("bytes after the end of the stream"))
                    } else {
                        Ok(())
                    };
                }
                Ok(()) => {}
                Err(Stop::Short) => {
                    self.bits.pos = start;
                    return Ok(());
                }
                Err(Stop::Invalid(why)) => return Err(Fault::Invalid(why)),
            }
        }
    }

    /// Whether the decoder waits for a block header with every input bit used: where a
    /// message compressed with a sync flush (RFC 7692 §7.2.1) and given its tail back ends.
    pub fn at_block_boundary(&self) -> bool {
        matches!(self.block, Block::Header) && self.bits.pos == self.bits.input.len() * 8
    }

    fn end_block(&mut self) {
        self.block = Block::Header;
        self.ended = self.last;
    }

    /// One step; nothing changes unless it completes (the caller undoes the bit position).
    fn step(&mut self) -> Result<(), Stop> {
        match &self.block {
            Block::Header => {
                // §3.2.3: BFINAL, then BTYPE
                let last = self.bits.bit()? == 1;
                let block = match self.bits.number(2)? {
                    0 => {
                        // §3.2.4: skip to a byte boundary; LEN, then NLEN, its complement
                        self.bits.pos = self.bits.pos.div_ceil(8) * 8;
                        let len = self.bits.number(16)?;
                        let nlen = self.bits.number(16)?;
                        if len != !nlen {
                            return Err(Stop::Invalid("invalid stored block lengths"));
                        }
                        Block::Stored(len)
                    }
                    1 => Block::Huffman(None),
                    2 => Block::Huffman(Some(self.dynamic_codes()?)),
                    _ => return Err(Stop::Invalid("invalid block type")),
                };
                self.last = last;
                self.block = block;
                if matches!(self.block, Block::Stored(0)) {
                    self.end_block();
                }
            }
            Block::Stored(left) => {
                let left = *left;
                let byte = self.bits.number(8)?;
                self.out.push(byte as u8);
                self.block = Block::Stored(left - 1);
                if left == 1 {
                    self.end_block();
                }
            }
            Block::Huffman(codes) => {
                let (lit, dist) = match codes {
                    Some((l, d)) => (l, d),
                    None => (&fixed().0, &fixed().1),
                };
                let sym = lit.decode(&mut self.bits)?;
                match sym {
                    0..=255 => self.out.push(sym as u8),
                    256 => self.end_block(),
                    257..=285 => {
                        let i = usize::from(sym - 257);
                        let len = LEN_BASE[i] + self.bits.number(LEN_EXTRA[i])?;
                        let d = usize::from(dist.decode(&mut self.bits)?);
                        if d >= 30 {
                            return Err(Stop::Invalid("invalid distance code"));
                        }
                        let distance = usize::from(DIST_BASE[d] + self.bits.number(DIST_EXTRA[d])?);
                        // §3.2: a distance refers back into the bytes already produced
                        if distance > self.out.len() {
                            return Err(Stop::Invalid("distance too far back"));
                        }
                        self.max_distance = self.max_distance.max(distance);
                        for _ in 0..len {
                            self.out.push(self.out[self.out.len() - distance]);
                        }
                    }
                    _ => return Err(Stop::Invalid("invalid literal/length code")),
                }
            }
        }
        Ok(())
    }

    /// §3.2.7: the code tables of a dynamic block.
    fn dynamic_codes(&mut self) -> Result<(Code, Code), Stop> {
        let hlit = usize::from(self.bits.number(5)?) + 257;
        let hdist = usize::from(self.bits.number(5)?) + 1;
        let hclen = usize::from(self.bits.number(4)?) + 4;
        // 286 literal/length and 30 distance codes at most (zlib: checked once all 14 bits are in)
        if hlit > 286 || hdist > 30 {
            return Err(Stop::Invalid("too many length or distance symbols"));
        }
        const ORDER: [usize; 19] = [
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        ];
        let mut cl_lengths = [0u8; 19];
        for &i in &ORDER[..hclen] {
            cl_lengths[i] = self.bits.number(3)? as u8;
        }
        // zlib: the code length code must be complete, or have no code at all; then every
        // length reads as 0 from one bit (zlib's table of "invalid" entries carries the value 0
        // and the length 1), and the block fails below for want of an end-of-block code.
        let cl_empty = cl_lengths.iter().all(|&l| l == 0);
        if !cl_empty && unused_space(&cl_lengths) != Some(0) {
            return Err(Stop::Invalid("invalid code lengths set"));
        }
        let cl = Code::new(&cl_lengths);
        let mut lengths: Vec<u8> = Vec::new();
        while lengths.len() < hlit + hdist {
            let sym = if cl_empty {
                self.bits.bit()?;
                0
            } else {
                cl.decode(&mut self.bits)?
            };
            // 0-15: a length; 16: repeat the previous one 3-6 times; 17: 3-10 zeros; 18: 11-138
            // zeros. A repeat is read whole (its extra bits) before it is judged.
            let (value, times) = match sym {
                0..=15 => (sym as u8, 1),
                16 => {
                    let times = 3 + usize::from(self.bits.number(2)?);
                    let Some(&prev) = lengths.last() else {
                        return Err(Stop::Invalid("repeat with no length before it"));
                    };
                    (prev, times)
                }
                17 => (0, 3 + usize::from(self.bits.number(3)?)),
                _ => (0, 11 + usize::from(self.bits.number(7)?)),
            };
            // the literal/length and distance lengths are one sequence: a repeat may cross from
            // one into the other, not past the end
            if lengths.len() + times > hlit + hdist {
                return Err(Stop::Invalid("repeat past the last length"));
            }
            lengths.extend(std::iter::repeat_n(value, times));
        }
        let (lit, dist) = lengths.split_at(hlit);
        if lit[256] == 0 {
            return Err(Stop::Invalid("no end-of-block code"));
        }
        // §3.2.7: "One distance code of zero bits means that there are no distance codes used at
        // all"; "If only one distance code is used, it is encoded using one bit". zlib: an
        // incomplete code is accepted only as that one code of one bit, for both codes, and the
        // distance code may be empty; over-subscribed lengths are never a code.
        let acceptable = |l: &[u8], may_be_empty: bool| match unused_space(l) {
            None => false,
            Some(0) => true,
            Some(_) => {
                let used: Vec<u8> = l.iter().copied().filter(|&x| x != 0).collect();
                used == [1] || (used.is_empty() && may_be_empty)
            }
        };
        if !acceptable(lit, false) {
            return Err(Stop::Invalid("invalid literal/lengths set"));
        }
        if !acceptable(dist, true) {
            return Err(Stop::Invalid("invalid distances set"));
        }
        Ok((Code::new(lit), Code::new(dist)))
    }
}

/// RFC 7692 §7.1.2: with `window_bits` = N agreed, the LZ77 window is 2^N bytes, so no
/// back-reference may reach further back than that.
pub fn fits_window(max_distance: usize, window_bits: u8) -> bool {
    max_distance <= 1 << window_bits
}
