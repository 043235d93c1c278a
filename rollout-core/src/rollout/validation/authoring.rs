//! Validation for the person writing the YAML (`rollout validate`): every problem with the path as
//! written (upstream abbreviates canary paths in the `InvalidSpec` condition, which keeps
//! upstream's wording), fields no Rollout has, and the templates a Rollout names.

use super::{FieldError, unsupported_steps, validate};
use crate::analysis::validate::FieldProblem;
use crate::common::{IntOrString, parse_duration};
use crate::rollout::spec::{AnalysisTemplateRef, Rollout, RolloutAnalysis};

impl FieldError {
    /// The message without the path: `Invalid value: 120: SetWeight needs to be between 0 and 100`.
    pub fn detail(&self) -> String {
        let text = self.to_string();
        text.strip_prefix(&format!("{}: ", self.path))
            .unwrap_or(&text)
            .to_string()
    }

    /// The path as written in the YAML of `ro`. Upstream (and so the `InvalidSpec` condition)
    /// abbreviates strategy fields as `spec.strategy.<field>` and names a step's `analysis`
    /// `analyses`; this spells them out: `spec.strategy.steps[0]` is
    /// `spec.strategy.canary.steps[0]`, `spec.strategy.strategy` is `spec.strategy`.
    pub fn yaml_path(&self, ro: &Rollout) -> String {
        let Some(rest) = self.path.strip_prefix("spec.strategy.") else {
            return self.path.clone();
        };
        let head = rest.split(['.', '[']).next().unwrap_or_default();
        let strategy = if ro.spec.strategy.canary.is_some() {
            "canary"
        } else {
            "blueGreen"
        };
        let path = match head {
            "canary" | "blueGreen" => self.path.clone(),
            "strategy" => "spec.strategy".to_string(),
            _ => format!("spec.strategy.{strategy}.{rest}"),
        };
        match path.strip_suffix(".analyses") {
            Some(step) if head == "steps" => format!("{step}.analysis"),
            _ => path,
        }
    }
}

/// Every problem of `ro` for a person editing its YAML (`rollout validate`): [`validate`],
/// [`unsupported_steps`] and the baseline arm's checks, with the paths as written ([`FieldError::yaml_path`]). An unparsable
/// pause duration is reported as such (upstream reports it as the value `-1`).
pub fn rollout_problems(ro: &Rollout) -> Vec<FieldProblem> {
    let unparsable: Vec<(String, String)> = ro
        .steps()
        .iter()
        .enumerate()
        .filter_map(|(i, step)| match step.pause.as_ref()?.duration.as_ref()? {
            IntOrString::String(d) => parse_duration(d)
                .err()
                .map(|e| (format!("spec.strategy.steps[{i}].pause.duration"), e.to_string())),
            IntOrString::Int(_) => None,
        })
        .collect();
    validate(ro, None)
        .into_iter()
        .chain(unsupported_steps(ro))
        .chain(crate::rollout::machine::validate_baseline(ro))
        .map(|e| {
            let message = unparsable
                .iter()
                .find(|(path, _)| *path == e.path)
                .map_or_else(|| e.detail(), |(_, why)| why.clone());
            FieldProblem::new(e.yaml_path(ro), message)
        })
        .collect()
}

/// Fields of `ro` that upstream's Rollout does not have (kept in the `extra` maps so that they
/// survive a round trip), by YAML path: `spec.replicasz`, `spec.strategy.canary.stepz`.
pub fn unknown_fields(ro: &Rollout) -> Vec<String> {
    let strategy = &ro.spec.strategy;
    let canary = strategy.canary.as_ref();
    let extras = [
        ("spec", Some(&ro.spec.extra)),
        ("spec.strategy.canary", canary.map(|c| &c.extra)),
        (
            "spec.strategy.canary.trafficRouting",
            canary.and_then(|c| c.traffic_routing.as_ref()).map(|t| &t.extra),
        ),
        (
            "spec.strategy.blueGreen",
            strategy.blue_green.as_ref().map(|b| &b.extra),
        ),
    ];
    extras
        .into_iter()
        .filter_map(|(path, extra)| Some((path, extra?)))
        .flat_map(|(path, extra)| extra.keys().map(move |key| format!("{path}.{key}")))
        .collect()
}

/// Every template a Rollout's analyses name (steps, background, blue-green pre- and
/// post-promotion), with the YAML path of its `templateName`.
pub fn template_refs(ro: &Rollout) -> Vec<(String, &AnalysisTemplateRef)> {
    let mut analyses: Vec<(String, &RolloutAnalysis)> = Vec::new();
    if let Some(c) = &ro.spec.strategy.canary {
        for (i, step) in c.steps.iter().flatten().enumerate() {
            if let Some(a) = &step.analysis {
                analyses.push((format!("spec.strategy.canary.steps[{i}].analysis"), a));
            }
        }
        if let Some(bg) = &c.analysis {
            analyses.push(("spec.strategy.canary.analysis".into(), &bg.analysis));
        }
    }
    if let Some(bg) = &ro.spec.strategy.blue_green {
        for (name, a) in [
            ("prePromotionAnalysis", &bg.pre_promotion_analysis),
            ("postPromotionAnalysis", &bg.post_promotion_analysis),
        ] {
            if let Some(a) = a {
                analyses.push((format!("spec.strategy.blueGreen.{name}"), a));
            }
        }
    }
    analyses
        .into_iter()
        .flat_map(|(path, a)| {
            a.templates
                .iter()
                .enumerate()
                .map(move |(j, t)| (format!("{path}.templates[{j}].templateName"), t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(strategy: serde_json::Value) -> Rollout {
        serde_json::from_value(serde_json::json!({
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}},
                     "strategy": strategy}}))
        .unwrap()
    }

    fn paths(ro: &Rollout) -> Vec<(String, String)> {
        validate(ro, None)
            .iter()
            .chain(&unsupported_steps(ro))
            .map(|e| (e.path.clone(), e.yaml_path(ro)))
            .collect()
    }

    #[test]
    fn upstream_paths_are_spelt_out_as_written() {
        let canary = rollout(serde_json::json!({"canary": {
            "maxSurge": 0, "maxUnavailable": 0, "stableService": "s", "canaryService": "s",
            "steps": [{"setWeight": 120}, {"analysis": {"args": [{"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "metadata.bogus"}}}]}}, {"experiment": {}}]}}));
        assert_eq!(
            paths(&canary),
            [
                ("spec.strategy.maxSurge", "spec.strategy.canary.maxSurge"),
                (
                    "spec.strategy.stableService",
                    "spec.strategy.canary.stableService"
                ),
                (
                    "spec.strategy.steps[0].setWeight",
                    "spec.strategy.canary.steps[0].setWeight"
                ),
                (
                    "spec.strategy.steps[1].analyses",
                    "spec.strategy.canary.steps[1].analysis"
                ),
                (
                    "spec.strategy.steps[2].experiment",
                    "spec.strategy.canary.steps[2].experiment"
                ),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let blue_green =
            rollout(serde_json::json!({"blueGreen": {"activeService": "a", "previewService": "a"}}));
        assert_eq!(
            paths(&blue_green),
            [(
                "spec.strategy.activeService".to_string(),
                "spec.strategy.blueGreen.activeService".to_string()
            )]
        );
        let both = rollout(serde_json::json!({"blueGreen": {"activeService": "a"}, "canary": {}}));
        assert_eq!(
            paths(&both),
            [("spec.strategy.strategy".to_string(), "spec.strategy".to_string())]
        );
    }

    #[test]
    fn an_unparsable_pause_says_why_while_the_condition_keeps_upstream_wording() {
        let ro = rollout(serde_json::json!({"canary": {"steps": [{"pause": {"duration": "soon"}}]}}));
        assert_eq!(
            validate(&ro, None)[0].to_string(),
            "spec.strategy.steps[0].pause.duration: Invalid value: -1: Duration needs to be greater than 0"
        );
        assert_eq!(
            rollout_problems(&ro),
            [FieldProblem::new(
                "spec.strategy.canary.steps[0].pause.duration",
                "invalid duration \"soon\": expected a number"
            )]
        );
    }

    #[test]
    fn unknown_fields_and_template_references_have_yaml_paths() {
        let ro = rollout(serde_json::json!({"canary": {
            "stepz": [], "trafficRouting": {"nginx": {}, "nginxx": {}},
            "analysis": {"templates": [{"templateName": "bg"}]},
            "steps": [{"analysis": {"templates": [{"templateName": "a"}, {"templateName": "b", "clusterScope": true}]}}]}}));
        assert_eq!(
            unknown_fields(&ro),
            [
                "spec.strategy.canary.stepz",
                "spec.strategy.canary.trafficRouting.nginxx"
            ]
        );
        let refs: Vec<(String, &str, bool)> = template_refs(&ro)
            .into_iter()
            .map(|(path, t)| (path, t.template_name.as_str(), t.cluster_scope))
            .collect();
        assert_eq!(
            refs,
            [
                (
                    "spec.strategy.canary.steps[0].analysis.templates[0].templateName".to_string(),
                    "a",
                    false
                ),
                (
                    "spec.strategy.canary.steps[0].analysis.templates[1].templateName".to_string(),
                    "b",
                    true
                ),
                (
                    "spec.strategy.canary.analysis.templates[0].templateName".to_string(),
                    "bg",
                    false
                ),
            ]
        );
        let blue_green = rollout(serde_json::json!({"blueGreen": {"activeService": "a",
            "postPromotionAnalysis": {"templates": [{"templateName": "post"}]}, "scaleDownDelaySecondz": 3}}));
        assert_eq!(
            unknown_fields(&blue_green),
            ["spec.strategy.blueGreen.scaleDownDelaySecondz"]
        );
        assert_eq!(
            template_refs(&blue_green)[0].0,
            "spec.strategy.blueGreen.postPromotionAnalysis.templates[0].templateName"
        );
    }
}
