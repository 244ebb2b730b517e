//! Process-wide sharing of objects built from the same input (a handler config hash, a regex
//! source): the registry holds weak references, so an object lives exactly as long as something
//! built from the rule set in force uses it, and survives reloads that keep using it. Only rule
//! loading takes the lock, never a request.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// Live objects by key (see the module docs).
pub struct WeakRegistry<K, T> {
    inner: Mutex<Inner<K, T>>,
}

struct Inner<K, T> {
    map: HashMap<K, Weak<T>>,
    /// Size at which dead references are next swept (amortised: loading many distinct keys
    /// stays linear).
    sweep_at: usize,
}

impl<K: Eq + Hash, T> Default for WeakRegistry<K, T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                sweep_at: 16,
            }),
        }
    }
}

impl<K: Eq + Hash, T> WeakRegistry<K, T> {
    /// The live object for `key`, or a new one from `make` (an error registers nothing).
    pub fn get_or_try_insert<Q, E>(
        &self,
        key: &Q,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(live) = inner.map.get(key).and_then(Weak::upgrade) {
            return Ok(live);
        }
        let made = Arc::new(make()?);
        if inner.map.len() >= inner.sweep_at {
            inner.map.retain(|_, w| w.strong_count() > 0);
            inner.sweep_at = (inner.map.len() * 2).max(16);
        }
        inner.map.insert(key.to_owned(), Arc::downgrade(&made));
        Ok(made)
    }

    /// [`WeakRegistry::get_or_try_insert`] for a `make` that cannot fail.
    pub fn get_or_insert<Q>(&self, key: &Q, make: impl FnOnce() -> T) -> Arc<T>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        match self.get_or_try_insert(key, || Ok::<_, std::convert::Infallible>(make())) {
            Ok(made) => made,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_while_alive_then_rebuilds() {
        let reg = WeakRegistry::<String, u32>::default();
        let a = reg.get_or_insert("k", || 1);
        assert_eq!(*reg.get_or_insert("k", || 2), 1, "live object shared");
        drop(a);
        assert_eq!(*reg.get_or_insert("k", || 3), 3, "dead object rebuilt");
        let err: Result<_, &str> = reg.get_or_try_insert("e", || Err("bad"));
        assert!(err.is_err());
        assert_eq!(
            *reg.get_or_insert("e", || 4),
            4,
            "a failed make registers nothing"
        );
    }

    #[test]
    fn dead_entries_are_swept() {
        let reg = WeakRegistry::<u32, u32>::default();
        for i in 0..1000 {
            drop(reg.get_or_insert(&i, || i));
        }
        let len = reg.inner.lock().map(|i| i.map.len()).unwrap_or(usize::MAX);
        assert!(len < 100, "{len} entries kept");
    }
}
