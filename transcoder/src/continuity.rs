//! MPEG-TS continuity across chunks. In one run, each stream's 4-bit continuity
//! counter runs on from segment to segment; a chunk's run starts its counters at 0, so
//! at a chunk boundary they jump. A demuxer that checks them (ffmpeg's does) takes the
//! jump for lost packets — unless the stream's first packet after it carries the
//! `discontinuity_indicator`, the standard's way to say the jump is intended. This
//! marks every stream's first packet in a chunk's first segment so.

use std::path::Path;

const PACKET: usize = 188;
const SYNC: u8 = 0x47;
const NULL_PID: u16 = 0x1FFF;
const DISCONTINUITY: u8 = 0x80;

/// Marks the first packet of every stream in the segment at `path`; returns how many
/// streams could not be marked (a first packet with no room for the flag).
pub fn mark_chunk_start(path: &Path) -> std::io::Result<usize> {
    let mut ts = std::fs::read(path)?;
    let unmarked = mark(&mut ts);
    std::fs::write(path, ts)?;
    Ok(unmarked)
}

fn mark(ts: &mut [u8]) -> usize {
    let mut seen = std::collections::HashSet::new();
    let mut unmarked = 0;
    for packet in ts.chunks_exact_mut(PACKET) {
        if packet[0] != SYNC {
            continue;
        }
        let pid = (u16::from(packet[1] & 0x1F) << 8) | u16::from(packet[2]);
        if pid == NULL_PID || !seen.insert(pid) {
            continue;
        }
        if !mark_packet(packet) {
            unmarked += 1;
        }
    }
    unmarked
}

/// Sets the flag in the packet's adaptation field, or gives a table packet one (its
/// section ends in 0xFF stuffing, two bytes of which make room).
fn mark_packet(packet: &mut [u8]) -> bool {
    let control = (packet[3] >> 4) & 0x3;
    if control & 0x2 != 0 {
        if packet[4] == 0 {
            return false;
        }
        packet[5] |= DISCONTINUITY;
        return true;
    }
    if control != 0x1 || packet[PACKET - 2..] != [0xFF, 0xFF] {
        return false;
    }
    packet.copy_within(4..PACKET - 2, 6);
    packet[3] |= 0x20;
    packet[4] = 1;
    packet[5] = DISCONTINUITY;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(pid: u16, control: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![SYNC, (pid >> 8) as u8, pid as u8, (control << 4) | 0x5];
        p.extend_from_slice(body);
        p.resize(PACKET, 0xFF);
        p
    }

    #[test]
    fn the_first_packet_of_each_stream_is_marked_and_nothing_else_changes() {
        // A table (payload only, stuffed), a video packet with an adaptation field, and
        // a second video packet.
        let table = packet(0, 0x1, &[0x00, 0x00, 0xB0, 0x0D]);
        let mut video = packet(256, 0x3, &[7, 0x50, 1, 2, 3, 4, 5, 6]);
        video[PACKET - 1] = 0x42;
        let later = packet(256, 0x1, &[0xAB; 184]);
        let mut ts = [table.clone(), video.clone(), later.clone()].concat();
        assert_eq!(mark(&mut ts), 0);
        let (t, v, l) = (&ts[..PACKET], &ts[PACKET..2 * PACKET], &ts[2 * PACKET..]);
        assert_eq!(t[3] >> 4 & 0x3, 0x3, "the table packet has an adaptation field now");
        assert_eq!((t[4], t[5]), (1, DISCONTINUITY));
        assert_eq!(&t[6..10], &table[4..8], "its section follows, unchanged");
        assert_eq!(t[3] & 0xF, 0x5, "the continuity counter is kept");
        assert_eq!(v[5], 0x50 | DISCONTINUITY);
        assert_eq!(v[PACKET - 1], 0x42);
        assert_eq!(l, &later[..], "only first packets are touched");
    }

    #[test]
    fn a_packet_without_room_is_reported() {
        let mut ts = packet(256, 0x1, &[0xAB; 184]);
        assert_eq!(mark(&mut ts), 1);
    }
}
