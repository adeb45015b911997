//! Just enough big-number arithmetic for a 768-bit Diffie-Hellman: unsigned integers of
//! 768 bits and modular exponentiation.
//!
//! A number is twelve 64-bit *limbs*, least significant first. The one hard operation is
//! `base^exp mod n`, done by square-and-multiply; each multiplication is a *Montgomery
//! multiplication*, which reduces modulo `n` without ever dividing: it computes
//! `a·b·R⁻¹ mod n` for `R = 2^768` by adding multiples of `n` until the low limbs are zero
//! and then dropping them. Numbers are kept in "Montgomery form" (`x·R mod n`) during the
//! exponentiation, so the `R⁻¹`s cancel out; they are converted in once and out once.
//!
//! Not constant-time: the exponent's bits decide which multiplications run. That is fine
//! for Message Stream Encryption, whose keys live for one connection and only hide traffic.

/// 64-bit limbs in a number: 12 × 64 = 768 bits.
const LIMBS: usize = 12;

/// Bytes in a number's big-endian encoding (what MSE sends on the wire).
pub const BYTES: usize = LIMBS * 8;

/// An unsigned integer below 2^768.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U768([u64; LIMBS]);

impl U768 {
    pub const ZERO: U768 = U768([0; LIMBS]);
    pub const ONE: U768 = U768::from_u64(1);

    pub const fn from_u64(value: u64) -> U768 {
        let mut limbs = [0; LIMBS];
        limbs[0] = value;
        U768(limbs)
    }

    /// The number whose big-endian bytes are `bytes`.
    pub fn from_be_bytes(bytes: &[u8; BYTES]) -> U768 {
        let mut limbs = [0u64; LIMBS];
        for (i, chunk) in bytes.rchunks_exact(8).enumerate() {
            let mut limb = [0u8; 8];
            limb.copy_from_slice(chunk);
            limbs[i] = u64::from_be_bytes(limb);
        }
        U768(limbs)
    }

    /// Big-endian, always [`BYTES`] long (leading zeros kept, as MSE requires).
    pub fn to_be_bytes(self) -> [u8; BYTES] {
        let mut bytes = [0u8; BYTES];
        for (i, chunk) in bytes.rchunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&self.0[i].to_be_bytes());
        }
        bytes
    }

    /// Bit `i` (0 = least significant).
    fn bit(&self, i: usize) -> bool {
        (self.0[i / 64] >> (i % 64)) & 1 == 1
    }

    /// Position of the highest set bit plus one; 0 for zero.
    fn bit_len(&self) -> usize {
        match self.0.iter().rposition(|&limb| limb != 0) {
            Some(i) => i * 64 + 64 - self.0[i].leading_zeros() as usize,
            None => 0,
        }
    }

    /// `self - other`, wrapping below zero; returns the result and whether it borrowed.
    pub fn overflowing_sub(&self, other: &U768) -> (U768, bool) {
        let mut out = [0u64; LIMBS];
        let mut borrow = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (d1, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d2, b2) = d1.overflowing_sub(borrow as u64);
            *limb = d2;
            borrow = b1 || b2;
        }
        (U768(out), borrow)
    }

    /// `self + other`, wrapping above 2^768; returns the result and whether it carried.
    fn overflowing_add(&self, other: &U768) -> (U768, bool) {
        let mut out = [0u64; LIMBS];
        let mut carry = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(other.0[i]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *limb = s2;
            carry = c1 || c2;
        }
        (U768(out), carry)
    }
}

impl PartialOrd for U768 {
    fn partial_cmp(&self, other: &U768) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for U768 {
    /// Compares from the most significant limb down.
    fn cmp(&self, other: &U768) -> std::cmp::Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

/// An odd modulus `n`, with the two constants Montgomery multiplication needs.
#[derive(Debug, Clone)]
pub struct Modulus {
    n: U768,
    /// `-n⁻¹ mod 2^64`: multiplying a low limb by it says how many `n`s to add to zero it.
    n_prime: u64,
    /// `R mod n`: the number 1 in Montgomery form.
    one: U768,
    /// `R² mod n`: multiplying by it (Montgomery-style) converts into Montgomery form.
    r_squared: U768,
}

impl Modulus {
    /// Prepares arithmetic modulo `n`, which must be odd and above 1 (a fixed prime here,
    /// never a number from the network).
    pub fn new(n: U768) -> Modulus {
        assert!(
            n.0[0] & 1 == 1 && n > U768::ONE,
            "a Montgomery modulus must be odd"
        );
        // Newton's iteration for 1/n mod 2^64: each step doubles the correct low bits,
        // starting from 1 correct bit (n is odd), so six steps give 64.
        let mut inverse: u64 = 1;
        for _ in 0..6 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(n.0[0].wrapping_mul(inverse)));
        }
        // R mod n and R² mod n by doubling 1, modulo n, 768 and then 768 more times.
        let mut x = U768::ONE;
        let mut one = U768::ZERO;
        for step in 1..=2 * LIMBS * 64 {
            x = double_mod(&x, &n);
            if step == LIMBS * 64 {
                one = x;
            }
        }
        Modulus {
            n,
            n_prime: inverse.wrapping_neg(),
            one,
            r_squared: x,
        }
    }

    /// `base^exp mod n`, for any `base` below 2^768.
    pub fn pow(&self, base: &U768, exp: &U768) -> U768 {
        let base = self.mul(base, &self.r_squared);
        let mut acc = self.one;
        for i in (0..exp.bit_len()).rev() {
            acc = self.mul(&acc, &acc);
            if exp.bit(i) {
                acc = self.mul(&acc, &base);
            }
        }
        self.mul(&acc, &U768::ONE)
    }

    /// Montgomery multiplication: `a·b·R⁻¹ mod n`, for `a` below 2^768 and `b` below `n`.
    ///
    /// One row per limb of `b`: add `a·b[i]` to the running total `t`, then add the
    /// multiple `m·n` that makes the lowest limb of `t` zero, and shift `t` down one limb
    /// (a division by 2^64 that is exact). After twelve rows `t = (a·b + M·n) / R < 2n`.
    fn mul(&self, a: &U768, b: &U768) -> U768 {
        let n = &self.n.0;
        let mut t = [0u64; LIMBS + 2];
        for &b_i in &b.0 {
            let mut carry = 0u64;
            for (t_j, &a_j) in t[..LIMBS].iter_mut().zip(&a.0) {
                (*t_j, carry) = mul_add(a_j, b_i, *t_j, carry);
            }
            (t[LIMBS], t[LIMBS + 1]) = add_carry(t[LIMBS], carry);

            let m = t[0].wrapping_mul(self.n_prime);
            let (_, mut carry) = mul_add(m, n[0], t[0], 0);
            for j in 1..LIMBS {
                (t[j - 1], carry) = mul_add(m, n[j], t[j], carry);
            }
            let (low, high) = add_carry(t[LIMBS], carry);
            t[LIMBS - 1] = low;
            t[LIMBS] = t[LIMBS + 1] + high;
            t[LIMBS + 1] = 0;
        }
        let mut result = U768([0; LIMBS]);
        result.0.copy_from_slice(&t[..LIMBS]);
        if t[LIMBS] != 0 || result >= self.n {
            result = result.overflowing_sub(&self.n).0;
        }
        result
    }
}

/// `2x mod n`, for `x` below `n`.
fn double_mod(x: &U768, n: &U768) -> U768 {
    let (doubled, carry) = x.overflowing_add(x);
    if carry || doubled >= *n {
        doubled.overflowing_sub(n).0
    } else {
        doubled
    }
}

/// `a·b + c + carry` as (low limb, high limb); it cannot overflow 128 bits.
fn mul_add(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
    let wide = a as u128 * b as u128 + c as u128 + carry as u128;
    (wide as u64, (wide >> 64) as u64)
}

/// `a + b` as (low limb, carry).
fn add_carry(a: u64, b: u64) -> (u64, u64) {
    let (sum, carried) = a.overflowing_add(b);
    (sum, carried as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    fn n(value: u64) -> U768 {
        U768::from_u64(value)
    }

    /// `base^exp mod m` with u128 arithmetic: the reference for moduli below 2^64.
    fn pow_u128(base: u64, mut exp: u64, m: u64) -> u64 {
        let m = m as u128;
        let (mut acc, mut base) = (1u128 % m, base as u128 % m);
        while exp > 0 {
            if exp & 1 == 1 {
                acc = acc * base % m;
            }
            base = base * base % m;
            exp >>= 1;
        }
        acc as u64
    }

    #[test]
    fn small_known_powers() {
        // The textbook example: 4^13 mod 497 = 445.
        assert_eq!(Modulus::new(n(497)).pow(&n(4), &n(13)), n(445));
        assert_eq!(Modulus::new(n(1_000_003)).pow(&n(2), &n(10)), n(1024));
        assert_eq!(Modulus::new(n(97)).pow(&n(5), &U768::ZERO), U768::ONE);
        // Fermat: a^(p-1) = 1 mod p for the prime 2^61 - 1.
        let p = (1u64 << 61) - 1;
        assert_eq!(Modulus::new(n(p)).pow(&n(3), &n(p - 1)), U768::ONE);
    }

    #[test]
    fn powers_agree_with_u128_arithmetic() {
        let mut rng = Rng::with_seed(42);
        for _ in 0..2000 {
            let m = rng.next_u64() | 1 | (1 << 63);
            let (base, exp) = (rng.next_u64(), rng.next_u64());
            let got = Modulus::new(n(m)).pow(&n(base), &n(exp));
            assert_eq!(got, n(pow_u128(base, exp, m)), "{base}^{exp} mod {m}");
        }
    }

    #[test]
    fn a_base_above_the_modulus_is_reduced() {
        assert_eq!(Modulus::new(n(497)).pow(&n(497 + 4), &n(13)), n(445));
        let all_ones = U768([u64::MAX; LIMBS]);
        // (2^768 - 1) mod 11 = 2, since 2^10 = 1 mod 11 and 2^768 = 2^8 = 3 mod 11.
        assert_eq!(Modulus::new(n(11)).pow(&all_ones, &U768::ONE), n(2));
    }

    #[test]
    fn bytes_round_trip_big_endian() {
        let mut bytes = [0u8; BYTES];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let x = U768::from_be_bytes(&bytes);
        assert_eq!(x.to_be_bytes(), bytes);
        assert_eq!(
            x.0[0], 0x5859_5a5b_5c5d_5e5f,
            "the last 8 bytes are the low limb"
        );
        assert_eq!(
            x.0[LIMBS - 1],
            0x0001_0203_0405_0607,
            "the first 8 are the high limb"
        );
        assert_eq!(n(256).to_be_bytes()[BYTES - 2..], [1, 0]);
    }

    #[test]
    fn comparison_starts_at_the_top_limb() {
        let mut high = U768::ZERO;
        high.0[LIMBS - 1] = 1;
        assert!(high > n(u64::MAX));
        assert!(n(2) > n(1));
        assert_eq!(high.bit_len(), 768 - 63);
        assert_eq!(U768::ZERO.bit_len(), 0);
    }
}
