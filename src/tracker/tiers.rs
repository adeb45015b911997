//! The order in which a torrent's trackers are tried (BEP 12, multitracker metadata).
//!
//! A torrent lists tiers of trackers. Each tier is shuffled once when the torrent starts.
//! An announce tries the trackers of tier 0 in order, then those of tier 1, and so on, and
//! stops at the first that answers; that tracker is then moved to the front of its tier so
//! it is tried first next time.

use crate::random::Rng;

/// A torrent's trackers, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
}

impl TrackerTiers {
    /// Shuffles each tier with `rng`. Blank URLs and tiers left empty are dropped, so a
    /// torrent without trackers gives an empty list rather than an error.
    pub fn new(tiers: Vec<Vec<String>>, rng: &mut Rng) -> TrackerTiers {
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut tier: Vec<String> = tier
                    .into_iter()
                    .map(|url| url.trim().to_owned())
                    .filter(|url| !url.is_empty())
                    .collect();
                rng.shuffle(&mut tier);
                tier
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        TrackerTiers { tiers }
    }

    /// True when there is no tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The tiers, each in its current order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Every tracker as `(tier, index, url)`, in the order to try them.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, &str)> + '_ {
        self.tiers.iter().enumerate().flat_map(|(t, tier)| {
            tier.iter()
                .enumerate()
                .map(move |(i, url)| (t, i, url.as_str()))
        })
    }

    /// Moves tracker `index` of tier `tier` to the front of its tier, keeping the others in
    /// order. Out-of-range positions are ignored.
    pub fn promote(&mut self, tier: usize, index: usize) {
        if let Some(tier) = self.tiers.get_mut(tier)
            && index < tier.len()
        {
            tier[..=index].rotate_right(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn order(tiers: &TrackerTiers) -> Vec<(usize, usize, String)> {
        tiers.iter().map(|(t, i, u)| (t, i, u.to_owned())).collect()
    }

    #[test]
    fn shuffles_within_tiers_only() {
        let input = vec![urls(&["a", "b", "c", "d", "e", "f"]), urls(&["x"])];
        let mut shuffled_once = false;
        for seed in 0..20 {
            let tiers = TrackerTiers::new(input.clone(), &mut Rng::with_seed(seed));
            let mut first = tiers.tiers()[0].clone();
            shuffled_once |= first != input[0];
            first.sort();
            assert_eq!(first, input[0], "tier 0 keeps its trackers");
            assert_eq!(tiers.tiers()[1], input[1], "tier 1 stays tier 1");
        }
        assert!(shuffled_once, "20 seeds never reordered 6 trackers");
    }

    #[test]
    fn iterates_tier_by_tier() {
        let tiers = TrackerTiers::new(
            vec![urls(&["a"]), urls(&["b"]), urls(&["c"])],
            &mut Rng::new(),
        );
        let expected = vec![(0, 0, "a".into()), (1, 0, "b".into()), (2, 0, "c".into())];
        assert_eq!(order(&tiers), expected);
    }

    #[test]
    fn promote_moves_to_the_front_of_its_tier() {
        let mut tiers = TrackerTiers {
            tiers: vec![urls(&["a", "b", "c"]), urls(&["x", "y"])],
        };
        tiers.promote(0, 2);
        assert_eq!(tiers.tiers()[0], urls(&["c", "a", "b"]));
        tiers.promote(1, 1);
        assert_eq!(tiers.tiers()[1], urls(&["y", "x"]));
        tiers.promote(0, 0);
        assert_eq!(tiers.tiers()[0], urls(&["c", "a", "b"]));
        // Out of range: nothing happens, nothing panics.
        tiers.promote(0, 3);
        tiers.promote(7, 0);
        assert_eq!(tiers.tiers(), &[urls(&["c", "a", "b"]), urls(&["y", "x"])]);
    }

    #[test]
    fn blank_urls_and_empty_tiers_are_dropped() {
        let tiers = TrackerTiers::new(
            vec![vec![], urls(&["  ", ""]), urls(&[" a "])],
            &mut Rng::new(),
        );
        assert_eq!(tiers.tiers(), &[urls(&["a"])]);
        assert!(TrackerTiers::new(vec![], &mut Rng::new()).is_empty());
        assert!(TrackerTiers::new(vec![vec![]], &mut Rng::new()).is_empty());
    }
}
