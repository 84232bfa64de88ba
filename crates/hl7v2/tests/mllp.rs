#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic
use hms_hl7v2::mllp::*;
use proptest::prelude::*;

fn frames(evs: &[DecoderEvent]) -> Vec<Vec<u8>> {
    evs.iter()
        .filter_map(|e| match e {
            DecoderEvent::Frame(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

const MSG: &[u8] = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1\r";

#[test]
fn encode_frame_wraps() {
    assert_eq!(encode_frame(b"abc"), b"\x0babc\x1c\x0d");
}

#[test]
fn one_byte_at_a_time() {
    let mut d = MllpDecoder::new(1024);
    let mut evs = Vec::new();
    for b in encode_frame(MSG) {
        evs.extend(d.push(&[b]));
    }
    assert_eq!(evs, vec![DecoderEvent::Frame(MSG.to_vec())]);
    assert_eq!(d.finish(), None);
}

#[test]
fn trailer_split_across_reads() {
    let mut d = MllpDecoder::new(1024);
    assert!(d.push(b"\x0bhello\x1c").is_empty());
    assert_eq!(
        d.push(b"\x0d"),
        vec![DecoderEvent::Frame(b"hello".to_vec())]
    );
}

#[test]
fn three_frames_in_one_buffer() {
    let mut buf = encode_frame(b"one");
    buf.extend(encode_frame(b"two"));
    buf.extend(encode_frame(MSG));
    let mut d = MllpDecoder::new(1024);
    assert_eq!(
        frames(&d.push(&buf)),
        vec![b"one".to_vec(), b"two".to_vec(), MSG.to_vec()]
    );
}

#[test]
fn junk_and_lf_between_frames_are_skipped() {
    let mut d = MllpDecoder::new(1024);
    let evs = d.push(b"\x0bone\x1c\x0d\n\r\nxx\x0btwo\x1c\x0d");
    assert_eq!(
        evs,
        vec![
            DecoderEvent::Frame(b"one".to_vec()),
            DecoderEvent::Skipped { bytes: 5 },
            DecoderEvent::Frame(b"two".to_vec()),
        ]
    );
}

#[test]
fn vt_in_the_middle_restarts() {
    let mut d = MllpDecoder::new(1024);
    let evs = d.push(b"\x0bpartial\x0bfull\x1c\x0d");
    assert_eq!(
        evs,
        vec![
            DecoderEvent::Skipped { bytes: 8 },
            DecoderEvent::Frame(b"full".to_vec())
        ]
    );
}

#[test]
fn close_mid_frame_reports_incomplete() {
    let mut d = MllpDecoder::new(1024);
    assert!(d.push(b"\x0bMSH|^~\\&|half").is_empty());
    assert_eq!(d.finish(), Some(Incomplete { bytes: 13 }));
    let mut d = MllpDecoder::new(1024);
    d.push(b"\x0bdone\x1c");
    assert_eq!(d.finish(), Some(Incomplete { bytes: 4 }));
}

#[test]
fn too_large_is_discarded_until_next_start() {
    let mut d = MllpDecoder::new(8);
    let mut evs = d.push(b"\x0b0123456789");
    assert!(d.buffered() <= 8);
    evs.extend(d.push(b"abcdef\x1c\x0d"));
    evs.extend(d.push(b"\x0bsmall\x1c\x0d"));
    assert_eq!(
        evs,
        vec![
            DecoderEvent::TooLarge { limit: 8 },
            DecoderEvent::Frame(b"small".to_vec())
        ]
    );
    // Exactly at the limit is fine.
    let mut d = MllpDecoder::new(5);
    assert_eq!(
        frames(&d.push(b"\x0b12345\x1c\x0d")),
        vec![b"12345".to_vec()]
    );
}

#[test]
fn fs_without_cr_then_vt_still_ends_frame() {
    let mut d = MllpDecoder::new(64);
    let evs = d.push(b"\x0bone\x1c\x0btwo\x1c\x0d");
    assert_eq!(frames(&evs), vec![b"one".to_vec(), b"two".to_vec()]);
}

proptest! {
    #[test]
    fn decoder_never_panics_and_stays_bounded(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
        max in 1usize..64,
    ) {
        let mut d = MllpDecoder::new(max);
        for c in &chunks {
            for e in d.push(c) {
                if let DecoderEvent::Frame(f) = e { prop_assert!(f.len() <= max); }
            }
            prop_assert!(d.buffered() <= max);
        }
        let _ = d.finish();
    }

    #[test]
    fn any_chunking_yields_exactly_the_frames(
        payloads in proptest::collection::vec(
            proptest::collection::vec(any::<u8>().prop_filter("no framing bytes", |b| *b != 0x0b && *b != 0x1c), 0..40),
            1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| encode_frame(p)).collect();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut d = MllpDecoder::new(64);
        let mut got = Vec::new();
        for w in points.windows(2) {
            got.extend(frames(&d.push(&stream[w[0]..w[1]])));
        }
        prop_assert_eq!(got, payloads);
        prop_assert_eq!(d.finish(), None);
    }
}
