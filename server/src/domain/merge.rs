//! What a merge keeps: the survivor's own values, and for each field it lacks (absent or
//! empty) the duplicate's. Tags are the union (the survivor's first, within the limit);
//! custom fields gain the keys the survivor lacks (within the key limit).

use serde_json::Value;

use super::company::Company;
use super::contact::Contact;
use super::fields::{CUSTOM_FIELDS_MAX_KEYS, TAGS_MAX_ITEMS};

fn fill<T>(survivor: &mut Option<T>, duplicate: Option<T>) {
    if survivor.is_none() {
        *survivor = duplicate;
    }
}

fn union_tags(survivor: &mut Vec<String>, duplicate: Vec<String>) {
    for tag in duplicate {
        if survivor.len() >= TAGS_MAX_ITEMS {
            break;
        }
        if !survivor.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            survivor.push(tag);
        }
    }
}

fn union_custom_fields(survivor: &mut Value, duplicate: Value) {
    let (Value::Object(mine), Value::Object(theirs)) = (survivor, duplicate) else {
        return;
    };
    for (key, value) in theirs {
        if mine.len() >= CUSTOM_FIELDS_MAX_KEYS {
            break;
        }
        if value.is_null() {
            continue;
        }
        mine.entry(key).or_insert(value);
    }
}

/// The survivor contact with the gaps filled from the duplicate.
pub fn contact(mut survivor: Contact, duplicate: Contact) -> Contact {
    fill(&mut survivor.first_name, duplicate.first_name);
    fill(&mut survivor.last_name, duplicate.last_name);
    fill(&mut survivor.email, duplicate.email);
    fill(&mut survivor.phone, duplicate.phone);
    fill(&mut survivor.title, duplicate.title);
    fill(&mut survivor.notes, duplicate.notes);
    fill(&mut survivor.company_id, duplicate.company_id);
    union_tags(&mut survivor.tags, duplicate.tags);
    union_custom_fields(&mut survivor.custom_fields, duplicate.custom_fields);
    // The owner is not a gap to fill: the survivor's stays, even none.
    survivor
}

/// The survivor company with the gaps filled from the duplicate (its name always stays).
pub fn company(mut survivor: Company, duplicate: Company) -> Company {
    fill(&mut survivor.domain, duplicate.domain);
    fill(&mut survivor.website, duplicate.website);
    fill(&mut survivor.industry, duplicate.industry);
    fill(&mut survivor.employee_count, duplicate.employee_count);
    fill(&mut survivor.phone, duplicate.phone);
    // An address is one thing: take the duplicate's whole address or none of it, so the
    // result is never half of each.
    let no_address = survivor.address_line1.is_none()
        && survivor.address_line2.is_none()
        && survivor.city.is_none()
        && survivor.region.is_none()
        && survivor.postal_code.is_none();
    if no_address {
        survivor.address_line1 = duplicate.address_line1;
        survivor.address_line2 = duplicate.address_line2;
        survivor.city = duplicate.city;
        survivor.region = duplicate.region;
        survivor.postal_code = duplicate.postal_code;
    }
    fill(&mut survivor.country, duplicate.country);
    union_tags(&mut survivor.tags, duplicate.tags);
    union_custom_fields(&mut survivor.custom_fields, duplicate.custom_fields);
    survivor
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn person(first: Option<&str>, email: Option<&str>, tags: &[&str], cf: Value) -> Contact {
        Contact {
            first_name: first.map(str::to_owned),
            last_name: None,
            email: email.map(str::to_owned),
            phone: None,
            title: None,
            notes: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            custom_fields: cf,
            company_id: None,
            owner_id: None,
        }
    }

    #[test]
    fn the_survivor_keeps_its_owner_even_none() {
        let owner = uuid::Uuid::now_v7();
        let owned = |owner_id| Contact {
            owner_id,
            ..person(Some("Ada"), None, &[], json!({}))
        };
        assert_eq!(contact(owned(None), owned(Some(owner))).owner_id, None);
        let other = uuid::Uuid::now_v7();
        assert_eq!(
            contact(owned(Some(other)), owned(Some(owner))).owner_id,
            Some(other)
        );
    }

    #[test]
    fn the_survivor_keeps_its_values_and_gains_what_it_lacks() {
        let survivor = person(Some("Ada"), None, &["vip"], json!({"plan": "pro"}));
        let duplicate = person(
            Some("Adah"),
            Some("ada@x.com"),
            &["VIP", "new"],
            json!({"plan": "free", "seats": 3}),
        );
        let merged = contact(survivor, duplicate);
        assert_eq!(merged.first_name.as_deref(), Some("Ada"));
        assert_eq!(merged.email.as_deref(), Some("ada@x.com"));
        assert_eq!(merged.tags, ["vip", "new"]);
        assert_eq!(merged.custom_fields, json!({"plan": "pro", "seats": 3}));
    }

    #[test]
    fn tags_stay_within_the_limit() {
        let many: Vec<String> = (0..TAGS_MAX_ITEMS).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let merged = contact(
            person(Some("A"), None, &refs, json!({})),
            person(Some("B"), None, &["extra"], json!({})),
        );
        assert_eq!(merged.tags.len(), TAGS_MAX_ITEMS);
    }
}
