//! Scrub previews: a sprite sheet of small frames and a WebVTT track pointing into it
//! (`<sheet>#xywh=…`), as players like Video.js and Vidstack read them. The
//! tiles come from a branch of the ladder's own ffmpeg run (no second decode), each
//! written as it passes; a short ffmpeg run then lays them out on the sheet. Making the
//! sheet in the ladder's run would hold back its progress reports until the end: ffmpeg
//! reports only once every output has started, and a sheet starts when it is full.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::encode::{StillKind, StillOutput};
use crate::ffmpeg::{self, FfmpegError, Limits};
use streambox_storage::layout::{SPRITE, TRACK};

const TILE_WIDTH: u32 = 160;
const MAX_TILES: u32 = 100;
const COLUMNS: u32 = 10;
/// Laying out at most 100 small JPEGs takes well under a second.
const ASSEMBLY_TIME: Duration = Duration::from_secs(60);
/// Tile file names in the directory given to [`tiles`] and [`assemble`].
const TILE_PATTERN: &str = "%04d.jpg";

/// How the sheet is laid out for a video of this length and picture size.
#[derive(Debug, PartialEq)]
struct Layout {
    interval_s: f64,
    tiles: u32,
    columns: u32,
    rows: u32,
    tile_width: u32,
    tile_height: u32,
}

fn layout(duration_s: f64, width: u32, height: u32) -> Layout {
    // One tile every 2 s, or fewer for long videos so the sheet stays at 100 tiles.
    let interval_s = (duration_s / f64::from(MAX_TILES)).max(2.0);
    let tiles = ((duration_s / interval_s).ceil() as u32).clamp(1, MAX_TILES);
    let columns = tiles.min(COLUMNS);
    let tile_height = ((f64::from(TILE_WIDTH) * f64::from(height) / f64::from(width) / 2.0).round() as u32 * 2).max(2);
    Layout { interval_s, tiles, columns, rows: tiles.div_ceil(columns), tile_width: TILE_WIDTH, tile_height }
}

/// The tiles' branch of the ladder command, writing one JPEG per tile into `tile_dir`.
pub fn tiles(duration_s: f64, width: u32, height: u32, tile_dir: &Path) -> StillOutput {
    let layout = layout(duration_s, width, height);
    StillOutput {
        // `eof_action=pass`: a clip shorter than one interval still gets its one tile.
        filter: format!(
            "fps=1/{:.3}:eof_action=pass,scale={}:{},setsar=1",
            layout.interval_s, layout.tile_width, layout.tile_height
        ),
        path: tile_dir.join(TILE_PATTERN),
        kind: StillKind::Sequence,
    }
}

/// The tiles' branch of a chunk's run over frames `[first_frame, ..)` at `frame_rate`:
/// each tile is the frame nearest its time in the whole video, so chunks together make
/// the sheet one run would. The chunk's first frame is always written first, as file
/// 0 (ffmpeg reports progress only once every output has started); the returned
/// number is the tile the chunk's next file is (file 0 too, if its first frame is a tile).
pub fn tiles_in_chunk(
    duration_s: f64,
    frame_rate: f64,
    width: u32,
    height: u32,
    first_frame: u64,
    tile_dir: &Path,
) -> (StillOutput, TileNumbering) {
    let layout = layout(duration_s, width, height);
    let step = layout.interval_s * frame_rate;
    let tile_frame = |k: u32| (f64::from(k) * step - 0.5).ceil().max(0.0) as u64;
    let first_tile = (0..layout.tiles).find(|&k| tile_frame(k) >= first_frame).unwrap_or(layout.tiles);
    let numbering =
        TileNumbering { first_tile, placeholder: tile_frame(first_tile) != first_frame, tiles: layout.tiles };
    let still = StillOutput {
        // Frame g (of the video) is a tile when some multiple of the step lies in [g - 0.5, g + 0.5).
        filter: format!(
            "select='eq(n\\,0)+lt(mod(n+{first_frame}+0.5\\,{step:.6})\\,1)',scale={}:{},setsar=1",
            layout.tile_width, layout.tile_height
        ),
        path: tile_dir.join(TILE_PATTERN),
        kind: StillKind::Sequence,
    };
    (still, numbering)
}

/// Which tile of the sheet each file a chunk's run wrote is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileNumbering {
    /// The tile of the first file that is one.
    pub first_tile: u32,
    /// Whether file 0 is only the placeholder.
    pub placeholder: bool,
    /// Tiles on the whole sheet.
    pub tiles: u32,
}

impl TileNumbering {
    /// The tile file `index` (numbered from 0 by the run) is, if it is one.
    pub fn tile_of(&self, index: u32) -> Option<u32> {
        let tile = if self.placeholder { index.checked_sub(1)? } else { index } + self.first_tile;
        (tile < self.tiles).then_some(tile)
    }
}

/// How many tiles the sheet of a video this long has.
pub fn tile_count(duration_s: f64, width: u32, height: u32) -> u32 {
    layout(duration_s, width, height).tiles
}

/// The name tile `k` has in the directory [`assemble`] reads.
pub fn tile_name(k: u32) -> String {
    format!("{k:04}.jpg")
}

/// Lays the tiles in `tile_dir` out on the sheet, `out/`[`SPRITE`].
pub async fn assemble(
    duration_s: f64,
    width: u32,
    height: u32,
    tile_dir: &Path,
    out: &Path,
) -> Result<(), FfmpegError> {
    let layout = layout(duration_s, width, height);
    let args = [
        "-y",
        "-start_number",
        "0",
        "-i",
        &tile_dir.join(TILE_PATTERN).display().to_string(),
        "-vf",
        &format!("tile={}x{}", layout.columns, layout.rows),
        "-frames:v",
        "1",
        "-q:v",
        "3",
        &out.join(SPRITE).display().to_string(),
    ]
    .map(String::from);
    let limits = Limits { stall: ASSEMBLY_TIME, wall_clock: ASSEMBLY_TIME };
    ffmpeg::run(Vec::from(args), limits, |_| {}).await
}

/// Writes the track, `out/`[`TRACK`], for the sheet [`assemble`] lays out.
pub fn write_track(duration_s: f64, width: u32, height: u32, out: &Path) -> std::io::Result<()> {
    std::fs::write(out.join(TRACK), track(&layout(duration_s, width, height), duration_s))
}

fn track(layout: &Layout, duration_s: f64) -> String {
    let mut vtt = String::from("WEBVTT\n");
    for tile in 0..layout.tiles {
        let start = f64::from(tile) * layout.interval_s;
        let end = (start + layout.interval_s).min(duration_s);
        let (x, y) = ((tile % layout.columns) * layout.tile_width, (tile / layout.columns) * layout.tile_height);
        let _ = write!(
            vtt,
            "\n{} --> {}\n{SPRITE}#xywh={x},{y},{},{}\n",
            timestamp(start),
            timestamp(end),
            layout.tile_width,
            layout.tile_height
        );
    }
    vtt
}

fn timestamp(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", millis / 3_600_000, millis / 60_000 % 60, millis / 1000 % 60, millis % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_videos_get_a_tile_every_two_seconds() {
        let l = layout(13.0, 1280, 720);
        assert_eq!((l.tiles, l.columns, l.rows, l.tile_height), (7, 7, 1, 90));
        let vtt = track(&l, 13.0);
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(vtt.contains("00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90"));
        assert!(vtt.contains("00:00:12.000 --> 00:00:13.000\nstoryboard.jpg#xywh=960,0,160,90"));
    }

    #[test]
    fn chunks_number_their_tiles_across_the_video() {
        // 600 s: a tile every 6 s, 180 frames apart at 30 fps; chunks of 60 s (1800 frames).
        let dir = Path::new("/t");
        let (_, first) = tiles_in_chunk(600.0, 30.0, 1280, 720, 0, dir);
        assert_eq!(first, TileNumbering { first_tile: 0, placeholder: false, tiles: 100 });
        assert_eq!((first.tile_of(0), first.tile_of(9)), (Some(0), Some(9)));
        let (still, second) = tiles_in_chunk(600.0, 30.0, 1280, 720, 1800, dir);
        assert_eq!((second.first_tile, second.placeholder), (10, false));
        assert!(still.filter.contains("mod(n+1800+0.5"), "{}", still.filter);
        // A chunk starting between two tiles: file 0 is only its placeholder.
        let (_, odd) = tiles_in_chunk(600.0, 30.0, 1280, 720, 1000, dir);
        assert_eq!((odd.first_tile, odd.placeholder), (6, true));
        assert_eq!((odd.tile_of(0), odd.tile_of(1)), (None, Some(6)));
        let (_, last) = tiles_in_chunk(600.0, 30.0, 1280, 720, 17_999, dir);
        assert_eq!(last.tile_of(2), None, "no tile past the sheet");
    }

    #[test]
    fn long_videos_stay_at_one_hundred_tiles() {
        let l = layout(3600.0, 1080, 1920);
        assert_eq!((l.tiles, l.columns, l.rows), (100, 10, 10));
        assert_eq!(l.interval_s, 36.0);
        assert_eq!(l.tile_height, 284);
        assert!(track(&l, 3600.0).contains("00:59:24.000 --> 01:00:00.000\nstoryboard.jpg#xywh=1440,2556,160,284"));
    }
}
