//! Fragmented MP4 (CMAF) segments as ffmpeg's HLS muxer writes them: each rendition has
//! an initialization segment (`ftyp` + `moov`, named by `EXT-X-MAP`), and each media
//! segment is one fragment (`moof` + `mdat`) of all its frames. An I-frame playlist needs
//! every keyframe addressable on its own, so [`isolate_keyframes`] cuts a video segment's
//! fragments again: each keyframe becomes a fragment by itself (the I-frame playlist's
//! byte range, decodable with the initialization segment alone) and the frames up to the
//! next keyframe another. The frames, their order and their timing are unchanged.

use anyhow::{Context, bail, ensure};
use streambox_db::chunks::KeyframeRecord;

/// `tfhd`: an absolute data offset (not supported: ffmpeg's are relative to the `moof`).
const BASE_DATA_OFFSET: u32 = 0x01;
const DEFAULT_DURATION: u32 = 0x08;
const DEFAULT_SIZE: u32 = 0x10;
const DEFAULT_FLAGS: u32 = 0x20;
/// `trun`: which fields are present.
const DATA_OFFSET: u32 = 0x001;
const FIRST_SAMPLE_FLAGS: u32 = 0x004;
const SAMPLE_DURATION: u32 = 0x100;
const SAMPLE_SIZE: u32 = 0x200;
const SAMPLE_FLAGS: u32 = 0x400;
const SAMPLE_CTS: u32 = 0x800;
/// In a sample's flags: `sample_is_non_sync_sample`.
const NON_SYNC: u32 = 0x0001_0000;
/// Fragments one cut segment may have: each numbers its fragments from its ffmpeg
/// fragment's number times this, so the numbers still rise from segment to segment.
const FRAGMENTS_PER_SEGMENT: u32 = 256;

/// A box: its type and where its payload and its end are in the buffer.
#[derive(Debug, Clone, Copy)]
struct Atom {
    kind: [u8; 4],
    start: usize,
    payload: usize,
    end: usize,
}

/// The boxes in `data[from..to]`, in order.
fn atoms(data: &[u8], from: usize, to: usize) -> anyhow::Result<Vec<Atom>> {
    let mut found = Vec::new();
    let mut at = from;
    while at + 8 <= to {
        let size = u32_at(data, at)? as usize;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into()?;
        let (payload, end) = match size {
            0 => (at + 8, to),
            1 => (at + 16, at + usize::try_from(u64_at(data, at + 8)?)?),
            _ => (at + 8, at + size),
        };
        ensure!(end >= payload && end <= to, "a {} box runs past its parent", String::from_utf8_lossy(&kind));
        found.push(Atom { kind, start: at, payload, end });
        at = end;
    }
    Ok(found)
}

fn child(data: &[u8], parent: Atom, kind: &[u8; 4]) -> anyhow::Result<Atom> {
    atoms(data, parent.payload, parent.end)?
        .into_iter()
        .find(|a| &a.kind == kind)
        .with_context(|| format!("no {} box", String::from_utf8_lossy(kind)))
}

fn u32_at(data: &[u8], at: usize) -> anyhow::Result<u32> {
    Ok(u32::from_be_bytes(data.get(at..at + 4).context("a box ends early")?.try_into()?))
}

fn u64_at(data: &[u8], at: usize) -> anyhow::Result<u64> {
    Ok(u64::from_be_bytes(data.get(at..at + 8).context("a box ends early")?.try_into()?))
}

/// `avc1.PPCCLL` (RFC 6381) from the `avcC` box of an initialization segment: the
/// profile, constraint flags and level of the SPS the encoder wrote.
pub fn video_codec(init: &[u8]) -> Option<String> {
    // avcC: configurationVersion 1, then profile, compatibility and level.
    let at = init.windows(5).position(|w| w[..4] == *b"avcC" && w[4] == 1)? + 5;
    let [profile, constraints, level] = init.get(at..at + 3)?.try_into().ok()?;
    Some(format!("avc1.{profile:02x}{constraints:02x}{level:02x}"))
}

/// What a fragment of this track leaves to its initialization segment: the timescale
/// and `trex`'s sample defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    timescale: u32,
    duration: u32,
    size: u32,
    flags: u32,
}

impl Track {
    /// The track of a one-track initialization segment.
    pub fn of_init(init: &[u8]) -> anyhow::Result<Self> {
        let top = atoms(init, 0, init.len())?;
        let moov = *top.iter().find(|a| &a.kind == b"moov").context("no moov box")?;
        let trak = child(init, moov, b"trak")?;
        let mdhd = child(init, child(init, trak, b"mdia")?, b"mdhd")?;
        // Version 1 has 64-bit creation and modification times before the timescale.
        let timescale_at = mdhd.payload + if init.get(mdhd.payload) == Some(&1) { 20 } else { 12 };
        let timescale = u32_at(init, timescale_at)?;
        ensure!(timescale > 0, "a track without a timescale");
        let trex = child(init, child(init, moov, b"mvex")?, b"trex")?;
        // version+flags, track_ID, sample description index, then the three defaults.
        Ok(Self {
            timescale,
            duration: u32_at(init, trex.payload + 12)?,
            size: u32_at(init, trex.payload + 16)?,
            flags: u32_at(init, trex.payload + 20)?,
        })
    }
}

/// One fragment's samples, as its `moof` describes them.
struct Fragment<'a> {
    sequence: u32,
    /// The `tfhd` box as it was (its defaults apply to the new fragments too).
    tfhd: &'a [u8],
    decode_time: u64,
    trun_version: u8,
    trun_flags: u32,
    samples: Vec<Sample>,
    /// Where the samples' bytes start, one after another.
    data: usize,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    duration: u32,
    size: u32,
    flags: u32,
    cts: u32,
}

impl Sample {
    fn is_sync(&self) -> bool {
        self.flags & NON_SYNC == 0
    }
}

fn fragment<'a>(data: &'a [u8], moof: Atom, track: &Track) -> anyhow::Result<Fragment<'a>> {
    let sequence = u32_at(data, child(data, moof, b"mfhd")?.payload + 4)?;
    let trafs: Vec<Atom> = atoms(data, moof.payload, moof.end)?.into_iter().filter(|a| &a.kind == b"traf").collect();
    let &[traf] = trafs.as_slice() else { bail!("a fragment of {} tracks", trafs.len()) };
    let boxes = atoms(data, traf.payload, traf.end)?;
    let tfhd = *boxes.iter().find(|a| &a.kind == b"tfhd").context("no tfhd box")?;
    let tfdt = *boxes.iter().find(|a| &a.kind == b"tfdt").context("no tfdt box")?;
    let truns: Vec<Atom> = boxes.iter().filter(|a| &a.kind == b"trun").copied().collect();
    let &[trun] = truns.as_slice() else { bail!("a fragment with {} truns", truns.len()) };

    let tfhd_flags = u32_at(data, tfhd.payload)? & 0x00ff_ffff;
    ensure!(tfhd_flags & BASE_DATA_OFFSET == 0, "a fragment with an absolute data offset");
    // version+flags, track_ID, then the optional fields in flag order.
    let mut at = tfhd.payload + 8 + if tfhd_flags & 0x02 != 0 { 4 } else { 0 };
    let mut default = |flag: u32, fallback: u32| -> anyhow::Result<u32> {
        if tfhd_flags & flag == 0 {
            return Ok(fallback);
        }
        let value = u32_at(data, at)?;
        at += 4;
        Ok(value)
    };
    let (duration, size, flags) = (
        default(DEFAULT_DURATION, track.duration)?,
        default(DEFAULT_SIZE, track.size)?,
        default(DEFAULT_FLAGS, track.flags)?,
    );
    let decode_time = match data.get(tfdt.payload) {
        Some(1) => u64_at(data, tfdt.payload + 4)?,
        _ => u64::from(u32_at(data, tfdt.payload + 4)?),
    };

    let trun_version = data.get(trun.payload).copied().unwrap_or_default();
    let trun_flags = u32_at(data, trun.payload)? & 0x00ff_ffff;
    let count = u32_at(data, trun.payload + 4)? as usize;
    let mut at = trun.payload + 8;
    let mut field = |present: bool| -> anyhow::Result<Option<u32>> {
        if !present {
            return Ok(None);
        }
        let value = u32_at(data, at)?;
        at += 4;
        Ok(Some(value))
    };
    let offset = field(trun_flags & DATA_OFFSET != 0)?.context("a trun without a data offset")?;
    let first_flags = field(trun_flags & FIRST_SAMPLE_FLAGS != 0)?;
    let mut samples = Vec::with_capacity(count.min(100_000));
    for i in 0..count {
        let sample_duration = field(trun_flags & SAMPLE_DURATION != 0)?.unwrap_or(duration);
        let sample_size = field(trun_flags & SAMPLE_SIZE != 0)?.unwrap_or(size);
        let sample_flags =
            field(trun_flags & SAMPLE_FLAGS != 0)?.or(if i == 0 { first_flags } else { None }).unwrap_or(flags);
        let cts = field(trun_flags & SAMPLE_CTS != 0)?.unwrap_or(0);
        samples.push(Sample { duration: sample_duration, size: sample_size, flags: sample_flags, cts });
    }
    // The data offset is signed and counts from the moof's first byte.
    let data_start = usize::try_from(moof.start as i64 + i64::from(offset as i32))?;
    Ok(Fragment {
        sequence,
        tfhd: &data[tfhd.start..tfhd.end],
        decode_time,
        trun_version,
        trun_flags,
        samples,
        data: data_start,
    })
}

/// The `moof` + `mdat` pairs of a media segment, in order.
fn fragments<'a>(segment: &'a [u8], track: &Track) -> anyhow::Result<Vec<(Atom, Atom, Fragment<'a>)>> {
    let top = atoms(segment, 0, segment.len())?;
    let mut pairs = Vec::new();
    for (i, moof) in top.iter().enumerate().filter(|(_, a)| &a.kind == b"moof") {
        let mdat = *top.get(i + 1).filter(|a| &a.kind == b"mdat").context("a moof without its mdat")?;
        pairs.push((*moof, mdat, fragment(segment, *moof, track)?));
    }
    ensure!(!pairs.is_empty(), "a segment without fragments");
    Ok(pairs)
}

/// `segment` with each keyframe in a fragment of its own and the frames after it up to
/// the next keyframe in another. What comes before the first fragment is kept, except a
/// `sidx` (its sizes index the fragments as they were).
pub fn isolate_keyframes(segment: &[u8], track: &Track) -> anyhow::Result<Vec<u8>> {
    let top = atoms(segment, 0, segment.len())?;
    let mut out = Vec::with_capacity(segment.len() + 1024);
    for atom in top.iter().take_while(|a| &a.kind != b"moof").filter(|a| &a.kind != b"sidx") {
        out.extend_from_slice(&segment[atom.start..atom.end]);
    }
    for (_, mdat, fragment) in fragments(segment, track)? {
        let samples = &fragment.samples;
        let mut cuts: Vec<usize> = vec![0, samples.len()];
        for (i, _) in samples.iter().enumerate().filter(|(_, s)| s.is_sync()) {
            cuts.extend([i, i + 1]);
        }
        cuts.sort_unstable();
        cuts.dedup();
        ensure!(cuts.len() <= FRAGMENTS_PER_SEGMENT as usize, "a segment of more than 256 keyframes");
        let (mut offset, mut elapsed) = (fragment.data, 0u64);
        for (n, range) in cuts.windows(2).enumerate() {
            let group = &samples[range[0]..range[1]];
            let bytes: usize = group.iter().map(|s| s.size as usize).sum();
            let media = segment.get(offset..offset + bytes).context("samples past the segment's end")?;
            ensure!(offset + bytes <= mdat.end, "samples past their mdat");
            let sequence = fragment.sequence.wrapping_mul(FRAGMENTS_PER_SEGMENT).wrapping_add(n as u32);
            out.extend(moof(&fragment, sequence, fragment.decode_time + elapsed, group));
            out.extend(((bytes + 8) as u32).to_be_bytes());
            out.extend(b"mdat");
            out.extend_from_slice(media);
            offset += bytes;
            elapsed += group.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        }
    }
    Ok(out)
}

/// A `moof` for `samples` of `fragment`, starting at `decode_time`, its data right
/// after it in an `mdat`. Its `trun` keeps the original's fields; each sample's flags
/// stay as they were, the first one's given explicitly when they are not per sample.
fn moof(fragment: &Fragment, sequence: u32, decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    let per_sample = fragment.trun_flags & (SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS | SAMPLE_CTS);
    let first_flags = fragment.trun_flags & SAMPLE_FLAGS == 0;
    let trun_flags = DATA_OFFSET | per_sample | if first_flags { FIRST_SAMPLE_FLAGS } else { 0 };
    let fields = per_sample.count_ones() as usize;
    let trun_size = 20 + if first_flags { 4 } else { 0 } + 4 * fields * samples.len();
    let traf_size = 8 + fragment.tfhd.len() + 20 + trun_size;
    let moof_size = 8 + 16 + traf_size;

    let mut out = Vec::with_capacity(moof_size);
    let header = |out: &mut Vec<u8>, size: usize, kind: &[u8; 4]| {
        out.extend((size as u32).to_be_bytes());
        out.extend(kind);
    };
    header(&mut out, moof_size, b"moof");
    header(&mut out, 16, b"mfhd");
    out.extend([0u8; 4]);
    out.extend(sequence.to_be_bytes());
    header(&mut out, traf_size, b"traf");
    out.extend_from_slice(fragment.tfhd);
    header(&mut out, 20, b"tfdt");
    out.extend(0x0100_0000u32.to_be_bytes());
    out.extend(decode_time.to_be_bytes());
    header(&mut out, trun_size, b"trun");
    out.extend(((u32::from(fragment.trun_version) << 24) | trun_flags).to_be_bytes());
    out.extend((samples.len() as u32).to_be_bytes());
    out.extend(((moof_size + 8) as u32).to_be_bytes());
    if first_flags {
        out.extend(samples[0].flags.to_be_bytes());
    }
    for sample in samples {
        for (flag, value) in [
            (SAMPLE_DURATION, sample.duration),
            (SAMPLE_SIZE, sample.size),
            (SAMPLE_FLAGS, sample.flags),
            (SAMPLE_CTS, sample.cts),
        ] {
            if per_sample & flag != 0 {
                out.extend(value.to_be_bytes());
            }
        }
    }
    debug_assert_eq!(out.len(), moof_size);
    out
}

/// The keyframes of a segment cut by [`isolate_keyframes`], lasting `seconds`: each its
/// fragment's `moof` and `mdat`, lasting until the next keyframe (the last until the
/// segment's end).
pub fn keyframes(segment: &[u8], seconds: f64, track: &Track) -> anyhow::Result<Vec<KeyframeRecord>> {
    let pairs = fragments(segment, track)?;
    let first_time = pairs[0].2.decode_time;
    let found: Vec<(Atom, Atom, f64)> = pairs
        .iter()
        .filter(|(_, _, f)| f.samples.len() == 1 && f.samples[0].is_sync())
        .map(|(moof, mdat, f)| {
            (*moof, *mdat, f.decode_time.saturating_sub(first_time) as f64 / f64::from(track.timescale))
        })
        .collect();
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, (moof, mdat, start))| {
            let until = found.get(i + 1).map_or(seconds, |next| next.2);
            KeyframeRecord {
                offset: moof.start as u64,
                length: (mdat.end - moof.start) as u64,
                seconds: (until - start).max(0.001),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        [&((body.len() + 8) as u32).to_be_bytes()[..], kind, body].concat()
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// An initialization segment at 15360 ticks a second whose samples default to
    /// 512 ticks (30 fps) and non-sync.
    fn init() -> Vec<u8> {
        let mdhd = atom(b"mdhd", &words(&[0, 0, 0, 15360, 0, 0]));
        let avcc = atom(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]);
        let trak = atom(b"trak", &atom(b"mdia", &[mdhd, atom(b"minf", &avcc)].concat()));
        let trex = atom(b"trex", &words(&[0, 1, 1, 512, 0, NON_SYNC]));
        [atom(b"ftyp", b"iso5"), atom(b"moov", &[trak, atom(b"mvex", &trex)].concat())].concat()
    }

    const SIZES: [u32; 6] = [5, 1, 2, 4, 1, 3];

    /// A segment as ffmpeg writes it: `styp`, `sidx`, then one fragment (number 7) of six
    /// samples at decode time 9000, and its media bytes. With `keyframes_per_sample`, each
    /// sample has its flags (keyframes at 0 and 3); without, only the first sample's are
    /// given (a keyframe) and the rest are `trex`'s default.
    fn segment(keyframes_per_sample: bool) -> (Vec<u8>, Vec<u8>) {
        let media: Vec<u8> = (0..SIZES.iter().sum::<u32>() as u8).collect();
        let (flags, samples): (u32, Vec<u32>) = match keyframes_per_sample {
            true => (
                SAMPLE_SIZE | SAMPLE_FLAGS,
                SIZES
                    .iter()
                    .enumerate()
                    .flat_map(|(i, &size)| [size, if i == 0 || i == 3 { 0 } else { NON_SYNC }])
                    .collect(),
            ),
            false => (FIRST_SAMPLE_FLAGS | SAMPLE_SIZE, SIZES.to_vec()),
        };
        let moof = |offset: u32| {
            let mut trun = vec![DATA_OFFSET | flags, 6, offset];
            if !keyframes_per_sample {
                trun.push(0);
            }
            trun.extend(&samples);
            let traf = [
                atom(b"tfhd", &words(&[0x020000, 1])),
                atom(b"tfdt", &[&[1u8, 0, 0, 0][..], &9000u64.to_be_bytes()[..]].concat()),
                atom(b"trun", &words(&trun)),
            ];
            atom(b"moof", &[atom(b"mfhd", &words(&[0, 7])), atom(b"traf", &traf.concat())].concat())
        };
        let moof = moof(moof(0).len() as u32 + 8);
        ([atom(b"styp", b"msdh"), atom(b"sidx", &[0; 24]), moof, atom(b"mdat", &media)].concat(), media)
    }

    /// `(samples, first is a keyframe, decode time)` of each fragment, and the frames' bytes.
    fn shape(segment: &[u8], track: &Track) -> (Vec<(usize, bool, u64)>, Vec<u8>) {
        let pairs = fragments(segment, track).unwrap();
        let mut frames = Vec::new();
        for (_, mdat, f) in &pairs {
            let bytes: usize = f.samples.iter().map(|s| s.size as usize).sum();
            assert_eq!(f.data, mdat.payload, "the data offset points into the fragment's own mdat");
            frames.extend_from_slice(&segment[f.data..f.data + bytes]);
        }
        (pairs.iter().map(|(_, _, f)| (f.samples.len(), f.samples[0].is_sync(), f.decode_time)).collect(), frames)
    }

    #[test]
    fn the_codec_string_comes_from_the_avcc_box() {
        assert_eq!(video_codec(&init()).as_deref(), Some("avc1.64001f"));
        assert_eq!(video_codec(b"no such box"), None);
    }

    #[test]
    fn each_keyframe_becomes_a_fragment_of_its_own_with_the_frames_unchanged() {
        let track = Track::of_init(&init()).unwrap();
        assert_eq!(track, Track { timescale: 15360, duration: 512, size: 0, flags: NON_SYNC });
        let (segment, media) = segment(true);
        assert_eq!(shape(&segment, &track), (vec![(6, true, 9000)], media.clone()));

        let cut = isolate_keyframes(&segment, &track).unwrap();
        let kinds: Vec<[u8; 4]> = atoms(&cut, 0, cut.len()).unwrap().iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [*b"styp", *b"moof", *b"mdat", *b"moof", *b"mdat", *b"moof", *b"mdat", *b"moof", *b"mdat"]);
        let (fragments_cut, frames) = shape(&cut, &track);
        assert_eq!(fragments_cut, [(1, true, 9000), (2, false, 9512), (1, true, 10536), (2, false, 11048)]);
        assert_eq!(frames, media, "the same frames in the same order");
        let sequences: Vec<u32> = fragments(&cut, &track).unwrap().iter().map(|(_, _, f)| f.sequence).collect();
        assert_eq!(sequences, [7 * 256, 7 * 256 + 1, 7 * 256 + 2, 7 * 256 + 3]);

        let pairs = fragments(&cut, &track).unwrap();
        let found = keyframes(&cut, 0.4, &track).unwrap();
        let whole = |k: usize| (pairs[k].0.start as u64, (pairs[k].1.end - pairs[k].0.start) as u64);
        let ranges: Vec<(u64, u64)> = found.iter().map(|k| (k.offset, k.length)).collect();
        assert_eq!(ranges, [whole(0), whole(2)], "each keyframe's range is its fragment");
        assert!((found[0].seconds - 0.1).abs() < 1e-9 && (found[1].seconds - 0.3).abs() < 1e-9, "{found:?}");
    }

    #[test]
    fn a_first_sample_flag_is_carried_to_the_fragment_that_starts_with_that_sample() {
        let track = Track::of_init(&init()).unwrap();
        let (segment, media) = segment(false);
        let cut = isolate_keyframes(&segment, &track).unwrap();
        assert_eq!(shape(&cut, &track), (vec![(1, true, 9000), (5, false, 9512)], media));
        assert_eq!(keyframes(&cut, 0.2, &track).unwrap().len(), 1);
    }
}
