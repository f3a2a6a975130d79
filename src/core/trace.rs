//! The decision trace: which rule classified, threaded, identified or rejected a message, and why.
//! Stored as JSON on the inbound row and printed by `mailgate explain`.

use std::fmt;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trace {
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The pipeline stage: limits, parse, dedupe, classify, thread, identify, org, collaborators, ...
    pub stage: String,
    /// What the stage decided, in a word or two.
    pub decision: String,
    /// Why, in one line.
    pub reason: String,
}

impl Trace {
    pub fn record(&mut self, stage: &str, decision: impl Into<String>, reason: impl Into<String>) {
        self.steps.push(Step { stage: stage.to_string(), decision: decision.into(), reason: reason.into() });
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.steps).unwrap_or_else(|_| "[]".to_string())
    }

    pub fn from_json(json: &str) -> Trace {
        Trace { steps: serde_json::from_str(json).unwrap_or_default() }
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "{:<14} {:<16} {}", step.stage, step.decision, step.reason)?;
        }
        Ok(())
    }
}
