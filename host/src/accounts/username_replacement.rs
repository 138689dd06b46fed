//! Username replacement (accounts.md §12): rename accounts and the
//! retirement rows that remember them, one transaction per mapping.

use rand::Rng;

use crate::sites::Site;
use crate::store::{Db, StoreError, StoreResult};
use crate::users::types::username_key;
use crate::users::{retired, store as users};

/// Length of the random suffix added to a taken name (edX `SOCIAL_AUTH_UUID_LENGTH` in the LMS).
const SUFFIX_LEN: usize = 10;

/// `<desired>` if free, else `<desired>-<suffix>` with a fresh random suffix.
pub async fn free_username(db: &Db, site: &Site, desired: &str) -> StoreResult<String> {
    let (tenant, desired) = (site.tenant.clone(), desired.to_owned());
    db.read(move |c| {
        Box::pin(async move {
            let mut candidate = desired.clone();
            while users::id_by_username_key(c, &tenant, &username_key(&candidate)).await?.is_some() {
                candidate = format!("{desired}-{}", suffix());
            }
            Ok(candidate)
        })
    })
    .await
}

/// `SUFFIX_LEN` characters alternating lower-case letter and digit, starting with either.
fn suffix() -> String {
    let mut rng = rand::thread_rng();
    let letter_first: bool = rng.gen();
    (0..SUFFIX_LEN)
        .map(|i| {
            if (i % 2 == 0) == letter_first {
                char::from(b'a' + rng.gen_range(0..26u8))
            } else {
                char::from(b'0' + rng.gen_range(0..10u8))
            }
        })
        .collect()
}

/// Renames `current` to `new` in accounts and retirement rows of the tenant.
pub async fn replace(db: &Db, site: &Site, current: &str, new: &str) -> Result<(), StoreError> {
    let (tenant, current, new) = (site.tenant.clone(), current.to_owned(), new.to_owned());
    db.write(move |c| {
        Box::pin(async move {
            let user = users::find_by_username(c, &tenant, &current).await?;
            if let Some(user) = &user {
                users::rename(c, user.id, &new).await?;
            }
            retired::rename_original_username(c, &tenant, &current, &new).await?;
            if let Some(user) = user {
                users::audit(c, &tenant, Some(user.id), None, "username_replaced", Some("username")).await?;
            }
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffix_alternates_letters_and_digits() {
        for _ in 0..20 {
            let s = super::suffix();
            assert_eq!(s.len(), 10);
            let kinds: Vec<bool> = s.chars().map(|c| c.is_ascii_lowercase()).collect();
            assert!(kinds.windows(2).all(|w| w[0] != w[1]), "{s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        }
    }
}
