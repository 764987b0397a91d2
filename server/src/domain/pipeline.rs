//! Pipelines and their stages. A pipeline holds 1 to [`STAGES_MAX`] stages in a dense
//! order (positions 0, 1, 2, ...), at least one of them `open`. A stage's kind decides the
//! status of the leads in it.

use super::fields::{self, Errors, FieldError};
pub use super::Patch;

pub const NAME_MAX: usize = 100;
pub const STAGES_MAX: usize = 50;

/// What reaching a stage means for a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Won, Self::Lost]
            .into_iter()
            .find(|k| k.as_str() == value)
    }

    /// The probability a stage of this kind gets when none is given.
    pub fn default_probability(self) -> i32 {
        match self {
            Self::Won => 100,
            Self::Open | Self::Lost => 0,
        }
    }
}

/// A stage as a client described it.
#[derive(Debug, Clone, Default)]
pub struct StageInput {
    pub name: Option<String>,
    pub probability: Option<i64>,
    pub kind: Option<StageKind>,
}

/// A checked stage (its position is the pipeline's business).
///
/// Its fields are private to `domain`: outside it a stage comes only from
/// [`Stage::parse`], a [`NewPipeline`] or a patch's [`StagePatch::apply_to`].
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub(super) name: String,
    pub(super) probability: i32,
    pub(super) kind: StageKind,
}

impl Stage {
    /// Checks a stage; `prefix` names it inside a larger body (`stages[2].`).
    pub fn parse(prefix: &str, input: StageInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let name = name(&mut errors, &format!("{prefix}name"), input.name);
        let kind = input.kind.unwrap_or(StageKind::Open);
        let probability = match input.probability {
            None => kind.default_probability(),
            Some(p) => match i32::try_from(p) {
                Ok(p) if (0..=100).contains(&p) => p,
                _ => {
                    errors.push(FieldError::new(
                        format!("{prefix}probability"),
                        "out_of_range",
                        "must be between 0 and 100",
                    ));
                    0
                }
            },
        };
        errors.finish(Stage {
            name,
            probability,
            kind,
        })
    }

    /// Never blank.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// From 0 to 100.
    pub fn probability(&self) -> i32 {
        self.probability
    }

    pub fn kind(&self) -> StageKind {
        self.kind
    }
}

/// A required name of at most [`NAME_MAX`] characters.
fn name(errors: &mut Errors, field: &str, value: Option<String>) -> String {
    let name = errors.check(fields::optional_text(field, value, NAME_MAX, false));
    if name.is_none() && !errors.has(field) {
        errors.push(FieldError::new(field, "required", "must not be empty"));
    }
    name.unwrap_or_default()
}

/// A pipeline's name alone (what an update can change).
pub fn parse_name(value: Option<String>) -> Result<String, Vec<FieldError>> {
    let mut errors = Errors::default();
    let name = name(&mut errors, "name", value);
    errors.finish(name)
}

/// A patch of a pipeline: its name alone (stages change through their own operations).
/// `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct PipelinePatch {
    pub name: Option<String>,
    /// `Some(true)` makes the pipeline the tenant's default; `Some(false)` is refused on
    /// the default (a tenant always has one) and changes nothing on another pipeline.
    pub default: Option<bool>,
}

impl PipelinePatch {
    /// The new name, checked; `None` when the patch changes nothing.
    pub fn name(&self) -> Result<Option<String>, Vec<FieldError>> {
        self.name
            .clone()
            .map(|name| parse_name(Some(name)))
            .transpose()
    }
}

/// A merge patch of a stage. `name`, `kind` and `position` can be replaced but not
/// cleared (`None` keeps them); a cleared `probability` falls back to the default of the
/// stage's kind, as in a new stage.
#[derive(Debug, Clone, Default)]
pub struct StagePatch {
    pub name: Option<String>,
    pub probability: Patch<Option<i64>>,
    pub kind: Option<StageKind>,
    pub position: Option<i64>,
}

impl StagePatch {
    /// Applies the patch to `current` at `position` and checks the result like a new
    /// stage; returns it with its position (still to be checked against the pipeline).
    pub fn apply_to(self, current: Stage, position: i64) -> Result<(Stage, i64), Vec<FieldError>> {
        let input = StageInput {
            name: Some(current.name),
            probability: Some(i64::from(current.probability)),
            kind: Some(current.kind),
        };
        self.apply_to_input(input, position)
    }

    /// As [`StagePatch::apply_to`], over a stage as raw input (a stored row read back):
    /// the result is parsed like a new stage.
    pub fn apply_to_input(
        self,
        mut input: StageInput,
        position: i64,
    ) -> Result<(Stage, i64), Vec<FieldError>> {
        if let Some(name) = self.name {
            input.name = Some(name);
        }
        if let Some(kind) = self.kind {
            input.kind = Some(kind);
        }
        self.probability.apply(&mut input.probability);
        let stage = Stage::parse("", input)?;
        Ok((stage, self.position.unwrap_or(position)))
    }
}

/// A new pipeline with its stages in order.
///
/// Its fields are private to `domain`: outside it one comes only from
/// [`NewPipeline::parse`], so its stages always number 1 to [`STAGES_MAX`], one open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPipeline {
    pub(super) name: String,
    pub(super) stages: Vec<Stage>,
}

impl NewPipeline {
    pub fn parse(name: Option<String>, stages: Vec<StageInput>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let name = self::name(&mut errors, "name", name);
        if stages.is_empty() || stages.len() > STAGES_MAX {
            errors.push(FieldError::new(
                "stages",
                "out_of_range",
                format!("a pipeline has 1 to {STAGES_MAX} stages"),
            ));
        }
        let mut parsed = Vec::with_capacity(stages.len());
        for (index, stage) in stages.into_iter().enumerate() {
            match Stage::parse(&format!("stages[{index}]."), stage) {
                Ok(stage) => parsed.push(stage),
                Err(bad) => bad.into_iter().for_each(|e| errors.push(e)),
            }
        }
        if !parsed.is_empty() && !parsed.iter().any(|s| s.kind == StageKind::Open) {
            errors.push(no_open_stage("stages"));
        }
        errors.finish(NewPipeline {
            name,
            stages: parsed,
        })
    }

    /// Never blank.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// In order: a stage's index is its position.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }
}

/// The rule every pipeline keeps: leads need somewhere open to be.
pub fn no_open_stage(field: &str) -> FieldError {
    FieldError::new(
        field,
        "open_stage_required",
        "a pipeline needs at least one stage of kind `open`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, kind: StageKind) -> StageInput {
        StageInput {
            name: Some(name.into()),
            kind: Some(kind),
            probability: None,
        }
    }

    #[test]
    fn a_pipeline_needs_a_name_and_an_open_stage() {
        let errors = NewPipeline::parse(None, vec![stage("Won", StageKind::Won)]).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "stages"]);
        assert!(NewPipeline::parse(Some("P".into()), vec![]).is_err());
        let ok = NewPipeline::parse(
            Some("P".into()),
            vec![stage("In", StageKind::Open), stage("Won", StageKind::Won)],
        )
        .unwrap();
        assert_eq!(ok.stages[1].probability, 100, "won defaults to 100");
    }

    #[test]
    fn a_stage_patch_keeps_what_it_leaves_out_and_resets_a_cleared_probability() {
        let current = Stage::parse("", stage("Demo", StageKind::Open)).unwrap();
        let (kept, position) = StagePatch {
            kind: Some(StageKind::Won),
            ..Default::default()
        }
        .apply_to(current.clone(), 2)
        .unwrap();
        assert_eq!(
            (kept.name.as_str(), kept.kind, kept.probability),
            ("Demo", StageKind::Won, 0)
        );
        assert_eq!(position, 2);
        let (reset, _) = StagePatch {
            kind: Some(StageKind::Won),
            probability: Patch::Clear,
            position: Some(0),
            ..Default::default()
        }
        .apply_to(current.clone(), 2)
        .unwrap();
        assert_eq!(reset.probability, 100, "the default of a won stage");
        let errors = StagePatch {
            name: Some(" ".into()),
            probability: Patch::Set(Some(101)),
            ..Default::default()
        }
        .apply_to(current, 2)
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "probability"]);
    }

    #[test]
    fn bad_stages_are_named_by_index() {
        let errors = NewPipeline::parse(
            Some("P".into()),
            vec![
                stage("In", StageKind::Open),
                StageInput {
                    name: Some(" ".into()),
                    probability: Some(101),
                    kind: None,
                },
            ],
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["stages[1].name", "stages[1].probability"]);
    }
}
