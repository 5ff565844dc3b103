//! `y = x · Wᵀ` for the multilingual model's 4-bit linear weights, in 8-bit integer
//! arithmetic.
//!
//! Why not candle's `QMatMul`: it takes one block dot product per (token, output) pair and
//! unpacks the weight block's nibbles and f16 scale inside each, so a 12-token question unpacks
//! every weight twelve times — measured at 2.6× the reference C engine per sentence. Here the
//! weights are unpacked once, at load, into signed bytes (the nibble − 8, exactly) with an f32
//! scale per block of 32 (~1.1 bytes per weight, 23 MB for the model); each activation row is
//! quantized to 8-bit blocks of 32 with its own scale, as both candle and the reference engine
//! do; then each output is a sum over blocks of `scale_w · scale_x · Σ w·x`, the inner sum in
//! 32-lane AVX2 integer multiply-adds (a portable loop where AVX2 is missing).
//!
//! Data flow: x `[tokens, in]` f32 → per-token 8-bit blocks → for each weight row (kept in L1
//! while every token passes it) one dot product per token → y `[tokens, out]` f32.

use super::e5_file::{Q4_BLOCK, Q4_BLOCK_BYTES};

/// A weight matrix `[rows, cols]` as signed bytes with one scale per block of 32.
pub struct Int8Weights {
    rows: usize,
    cols: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
}

/// Activations `[tokens, cols]` quantized to 8-bit blocks.
struct Quantized {
    values: Vec<i8>,
    scales: Vec<f32>,
}

impl Int8Weights {
    /// Unpacks Q4_0 `blocks` holding a `[rows, cols]` matrix (`cols` a multiple of 32).
    pub fn from_q4_0(blocks: &[u8], rows: usize, cols: usize) -> Int8Weights {
        let count = rows * cols / Q4_BLOCK;
        let mut values = vec![0i8; rows * cols];
        let mut scales = Vec::with_capacity(count);
        for (block, out) in blocks
            .chunks_exact(Q4_BLOCK_BYTES)
            .zip(values.chunks_exact_mut(Q4_BLOCK))
        {
            scales.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
            let (low, high) = out.split_at_mut(Q4_BLOCK / 2);
            for (j, &byte) in block[2..].iter().enumerate() {
                low[j] = (byte & 0x0F) as i8 - 8;
                high[j] = (byte >> 4) as i8 - 8;
            }
        }
        Int8Weights {
            rows,
            cols,
            values,
            scales,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `x · Wᵀ` for `x` of `tokens` rows of `cols` values: `tokens × rows` values.
    pub fn matmul(&self, x: &[f32], tokens: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), tokens * self.cols);
        let q = quantize(x, self.cols);
        let blocks = self.cols / Q4_BLOCK;
        let mut y = vec![0f32; tokens * self.rows];
        #[cfg(target_arch = "x86_64")]
        let fast = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        for r in 0..self.rows {
            let w = &self.values[r * self.cols..(r + 1) * self.cols];
            let ws = &self.scales[r * blocks..(r + 1) * blocks];
            for t in 0..tokens {
                let a = &q.values[t * self.cols..(t + 1) * self.cols];
                let scales = &q.scales[t * blocks..(t + 1) * blocks];
                #[cfg(target_arch = "x86_64")]
                if fast {
                    // SAFETY: AVX2 and FMA were detected above; the slices hold whole blocks.
                    y[t * self.rows + r] = unsafe { dot_avx2(w, ws, a, scales) };
                    continue;
                }
                y[t * self.rows + r] = dot_portable(w, ws, a, scales);
            }
        }
        y
    }
}

/// Each row's blocks of 32 as bytes `round(x / d)` with `d = max|x| / 127`.
fn quantize(x: &[f32], cols: usize) -> Quantized {
    let mut values = vec![0i8; x.len()];
    let mut scales = Vec::with_capacity(x.len() / Q4_BLOCK);
    debug_assert_eq!(cols % Q4_BLOCK, 0);
    for (block, out) in x
        .chunks_exact(Q4_BLOCK)
        .zip(values.chunks_exact_mut(Q4_BLOCK))
    {
        let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = max / 127.0;
        let inverse = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (o, v) in out.iter_mut().zip(block) {
            *o = round_ties_even(v * inverse).clamp(-128.0, 127.0) as i8;
        }
        scales.push(d);
    }
    Quantized { values, scales }
}

/// Rounds half to even, as the reference engine's `lrintf` does, without a libm call:
/// adding and subtracting 1.5 × 2²³ leaves `x` rounded in the default rounding mode (exact for
/// |x| < 2²²; activations here are within ±127.5).
fn round_ties_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

fn dot_portable(w: &[i8], w_scales: &[f32], a: &[i8], a_scales: &[f32]) -> f32 {
    w.chunks_exact(Q4_BLOCK)
        .zip(a.chunks_exact(Q4_BLOCK))
        .zip(w_scales.iter().zip(a_scales))
        .map(|((wb, ab), (ws, as_))| {
            let sum: i32 = wb
                .iter()
                .zip(ab)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            sum as f32 * ws * as_
        })
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(w: &[i8], w_scales: &[f32], a: &[i8], a_scales: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_ps();
    for b in 0..w_scales.len() {
        // SAFETY: block b lies inside both slices (len = blocks × 32).
        let (wv, av) = unsafe {
            (
                _mm256_loadu_si256(w.as_ptr().add(b * Q4_BLOCK) as *const __m256i),
                _mm256_loadu_si256(a.as_ptr().add(b * Q4_BLOCK) as *const __m256i),
            )
        };
        // maddubs multiplies unsigned by signed bytes: move w's sign onto a.
        let products = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
        let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
        acc = _mm256_fmadd_ps(sums, _mm256_set1_ps(w_scales[b] * a_scales[b]), acc);
    }
    let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
    _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, ggml_file::qtensor_from_ggml};
    use candle_core::{Device, Module, Tensor};

    /// Deterministic pseudo-random values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn q4_blocks(rows: usize, cols: usize) -> Vec<u8> {
        let scales = noise(rows * cols / 32, 7);
        let nibbles = noise(rows * cols / 2, 9);
        let mut out = Vec::new();
        for (b, scale) in scales.iter().enumerate() {
            out.extend_from_slice(&half::f16::from_f32(scale * 0.05).to_le_bytes());
            for j in 0..16 {
                out.push(((nibbles[b * 16 + j] + 1.0) * 127.9) as u8);
            }
        }
        out
    }

    #[test]
    fn rounding_is_half_to_even() {
        for (x, r) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.7, 127.0),
            (-3.2, -3.0),
        ] {
            assert_eq!(round_ties_even(x), r, "{x}");
        }
    }

    #[test]
    fn agrees_with_candle_s_quantized_matmul() {
        let (rows, cols, tokens) = (40, 96, 5);
        let blocks = q4_blocks(rows, cols);
        let x = noise(tokens * cols, 3);
        let ours = Int8Weights::from_q4_0(&blocks, rows, cols).matmul(&x, tokens);
        let device = Device::Cpu;
        let q = qtensor_from_ggml(GgmlDType::Q4_0, &blocks, vec![rows, cols], &device).unwrap();
        let candle = QMatMul::from_qtensor(q)
            .unwrap()
            .forward(&Tensor::from_vec(x.clone(), (tokens, cols), &device).unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in ours.iter().zip(&candle) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        // The portable loop gives the same sums as the vector one.
        let w = Int8Weights::from_q4_0(&blocks, rows, cols);
        let q = quantize(&x, cols);
        let portable = dot_portable(
            &w.values[..cols],
            &w.scales[..3],
            &q.values[..cols],
            &q.scales[..3],
        );
        assert!((portable - ours[0]).abs() <= 1e-4 * portable.abs().max(1.0));
    }
}
