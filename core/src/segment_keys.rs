//! Each encrypted video's AES-128 key (HLS `METHOD=AES-128`): 16 random bytes made when
//! the video is created, kept in Postgres only sealed (AES-256-GCM under the server's
//! key-encryption key, `STREAMBOX_KEY_ENCRYPTION_KEY`, with the video's id as associated
//! data so a sealed key cannot be moved to another video), opened by the transcoder to
//! encrypt segments and by the streamer to hand to players. A key is never written to
//! object storage and never logged (its `Debug` is redacted).
//!
//! Segments are encrypted whole (AES-128-CBC, PKCS#7), each with an IV derived from its
//! rendition and file name ([`iv_for`]) and written into its playlist's `EXT-X-KEY`.
//! The IV does not follow the media sequence number (the HLS default) because a chunked
//! video's segments are encoded by several runs and stitched; and it is the same on every
//! attempt, so a segment an earlier attempt stored still matches the playlist a retry
//! writes.

use std::fmt;

use anyhow::Context;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    AES_128, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::digest;
use aws_lc_rs::iv::FixedLength;
use streambox_base::config::{Config, Secret};
use streambox_base::ids::VideoId;

use crate::App;

/// Bytes in an AES-128 key, and in each segment's IV.
pub const KEY_LEN: usize = 16;

/// Bytes in the key-encryption key (AES-256).
const KEK_LEN: usize = 32;

/// A video's segment key, in the clear: only ever in memory.
pub struct SegmentKey([u8; KEY_LEN]);

impl fmt::Debug for SegmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SegmentKey([redacted])")
    }
}

impl SegmentKey {
    /// A new random key from the system's secure generator.
    pub fn generate() -> anyhow::Result<Self> {
        let mut key = [0; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("the random generator failed"))?;
        Ok(Self(key))
    }

    /// The key itself, for the one place that hands it to players; never log it.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// `plain` encrypted whole as HLS `METHOD=AES-128` requires: AES-128-CBC with PKCS#7
    /// padding, starting from `iv`.
    pub fn encrypt(&self, plain: Vec<u8>, iv: [u8; KEY_LEN]) -> anyhow::Result<Vec<u8>> {
        let key = PaddedBlockEncryptingKey::cbc_pkcs7(self.cipher_key()?)
            .map_err(|_| anyhow::anyhow!("cannot set up AES-128-CBC"))?;
        let mut data = plain;
        key.less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| anyhow::anyhow!("AES-128-CBC encryption failed"))?;
        Ok(data)
    }

    /// What [`Self::encrypt`] made from the same `iv`, decrypted.
    pub fn decrypt(&self, encrypted: Vec<u8>, iv: [u8; KEY_LEN]) -> anyhow::Result<Vec<u8>> {
        let key = PaddedBlockDecryptingKey::cbc_pkcs7(self.cipher_key()?)
            .map_err(|_| anyhow::anyhow!("cannot set up AES-128-CBC"))?;
        let mut data = encrypted;
        let plain = key
            .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| anyhow::anyhow!("the segment does not decrypt with the video's key"))?
            .len();
        data.truncate(plain);
        Ok(data)
    }

    fn cipher_key(&self) -> anyhow::Result<UnboundCipherKey> {
        UnboundCipherKey::new(&AES_128, &self.0).map_err(|_| anyhow::anyhow!("not an AES-128 key"))
    }
}

/// The IV of segment `file` of `rendition` (`720p`, `seg_003.ts`): the first 16 bytes of
/// SHA-256 over `720p/seg_003.ts`. Unique per segment across renditions (no two segments
/// under one key share an IV), the same on every attempt, and needing no storage: the
/// playlist states it (`IV=0x…`).
pub fn iv_for(rendition: &str, file: &str) -> [u8; KEY_LEN] {
    let digest = digest::digest(&digest::SHA256, format!("{rendition}/{file}").as_bytes());
    let mut iv = [0; KEY_LEN];
    iv.copy_from_slice(&digest.as_ref()[..KEY_LEN]);
    iv
}

/// Seals and opens segment keys with the server's key-encryption key.
pub struct KeyVault(LessSafeKey);

impl KeyVault {
    /// The vault of `secret`: 64 hexadecimal characters (the config checked them).
    pub fn new(secret: &Secret) -> anyhow::Result<Self> {
        let bytes = decode_hex(secret.expose()).context("the key-encryption key is not hexadecimal")?;
        anyhow::ensure!(bytes.len() == KEK_LEN, "the key-encryption key is not 32 bytes");
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| anyhow::anyhow!("not an AES-256 key"))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// The vault of this process's configured key-encryption key, if it has one.
    pub fn of(config: &Config) -> anyhow::Result<Option<Self>> {
        config.key_encryption_key.as_ref().map(Self::new).transpose()
    }

    /// `key` sealed for `video`: a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, video: VideoId, key: &SegmentKey) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow::anyhow!("the random generator failed"))?;
        let mut sealed = key.0.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(video.0.as_bytes()), &mut sealed)
            .map_err(|_| anyhow::anyhow!("sealing the segment key failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The key [`Self::seal`] sealed for this very `video` under this key-encryption key.
    pub fn open(&self, video: VideoId, sealed: &[u8]) -> anyhow::Result<SegmentKey> {
        anyhow::ensure!(sealed.len() > NONCE_LEN, "the sealed segment key is truncated");
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("a bad nonce"))?;
        let mut data = ciphertext.to_vec();
        let opened = self
            .0
            .open_in_place(nonce, Aad::from(video.0.as_bytes()), &mut data)
            .map_err(|_| anyhow::anyhow!("the segment key does not open with this key-encryption key"))?;
        let key: [u8; KEY_LEN] = (&*opened).try_into().context("the sealed segment key is not 16 bytes")?;
        Ok(SegmentKey(key))
    }
}

/// The asked-for encryption cannot be done: this process has no key-encryption key.
#[derive(Debug, thiserror::Error)]
#[error("segment encryption needs STREAMBOX_KEY_ENCRYPTION_KEY, which this server does not have")]
pub struct Unavailable;

/// A new video's sealed key: made when its owner asked for encryption (`asked`), or by
/// default (`STREAMBOX_ENCRYPTION=on`) when they did not say; `None` for a clear video.
pub fn for_new_video(config: &Config, video: VideoId, asked: Option<bool>) -> anyhow::Result<Option<Vec<u8>>> {
    if !asked.unwrap_or(config.encrypt_by_default) {
        return Ok(None);
    }
    let vault = KeyVault::of(config)?.ok_or(Unavailable)?;
    vault.seal(video, &SegmentKey::generate()?).map(Some)
}

/// The opened key of `video`; `None` when it is not encrypted.
pub async fn of_video(app: &App, video: VideoId) -> anyhow::Result<Option<SegmentKey>> {
    let Some(sealed) = streambox_db::videos::sealed_key(&app.db, video).await? else { return Ok(None) };
    let vault = KeyVault::of(&app.config)?.ok_or(Unavailable)?;
    vault.open(video, &sealed).map(Some)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> KeyVault {
        KeyVault::new(&Secret::new("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")).unwrap()
    }

    /// RFC 3602's first AES-128-CBC test vector (one block; PKCS#7 adds a second).
    #[test]
    fn segments_are_aes_128_cbc_with_pkcs7_padding() {
        let key = SegmentKey(*b"\x06\xa9\x21\x40\x36\xb8\xa1\x5b\x51\x2e\x03\xd5\x34\x12\x00\x06");
        let iv = *b"\x3d\xaf\xba\x42\x9d\x9e\xb4\x30\xb4\x22\xda\x80\x2c\x9f\xac\x41";
        let encrypted = key.encrypt(b"Single block msg".to_vec(), iv).unwrap();
        assert_eq!(encrypted.len(), 32, "a whole block of padding follows a whole block");
        assert_eq!(&encrypted[..16], b"\xe3\x53\x77\x9c\x10\x79\xae\xb8\x27\x08\x94\x2d\xbe\x77\x18\x1a");
        assert_eq!(key.decrypt(encrypted, iv).unwrap(), b"Single block msg");
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_video_and_under_its_vault() {
        let (video, key) = (VideoId::new(), SegmentKey::generate().unwrap());
        let sealed = vault().seal(video, &key).unwrap();
        assert!(!sealed.windows(KEY_LEN).any(|w| w == key.expose()), "the key is not in the clear");
        assert_eq!(vault().open(video, &sealed).unwrap().expose(), key.expose());
        assert!(vault().open(VideoId::new(), &sealed).is_err(), "moved to another video");
        let other = KeyVault::new(&Secret::new("ff".repeat(32))).unwrap();
        assert!(other.open(video, &sealed).is_err(), "another key-encryption key");
        assert_eq!(format!("{key:?}"), "SegmentKey([redacted])");
    }

    #[test]
    fn each_segment_of_each_rendition_has_its_own_iv() {
        assert_eq!(iv_for("720p", "seg_000.ts"), iv_for("720p", "seg_000.ts"));
        assert_ne!(iv_for("720p", "seg_000.ts"), iv_for("480p", "seg_000.ts"));
        assert_ne!(iv_for("720p", "seg_000.ts"), iv_for("720p", "seg_001.ts"));
    }
}
