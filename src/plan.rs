//! The jobs of a sweep as a DAG (petgraph): a node per distinct job id, an edge where one job
//! must finish before another starts. Rows that resolve to the same config share one job.

use std::collections::{HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};

use crate::expand::{Job, JobId};
use crate::launch::Placement;
use crate::spec::JobConfig;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the jobs form a cycle: {}", names.join(" -> "))]
    Cycle { names: Vec<String> },
    #[error("{job} starts from job {id}, which is not in the sweep")]
    UnknownDependency { job: String, id: String },
}

pub struct Plan {
    /// Every (row, seed) of the spec, in spec order; several may share an id.
    pub entries: Vec<Job>,
    graph: DiGraph<JobId, ()>,
    nodes: HashMap<JobId, NodeIndex>,
    names: HashMap<JobId, String>,
}

impl Plan {
    pub fn new(entries: Vec<Job>) -> Result<Plan, PlanError> {
        let mut graph = DiGraph::new();
        let mut nodes = HashMap::new();
        for job in &entries {
            nodes
                .entry(job.id.clone())
                .or_insert_with(|| graph.add_node(job.id.clone()));
        }
        // An edge parent -> child where a job starts from another job's weights.
        let mut names: HashMap<JobId, String> = HashMap::new();
        for job in &entries {
            names
                .entry(job.id.clone())
                .or_insert_with(|| format!("{} seed {}", job.row, job.seed));
            if let Some(parent) = &job.config.train.init_from {
                let Some(&p) = nodes.get(parent) else {
                    return Err(PlanError::UnknownDependency {
                        job: names[&job.id].clone(),
                        id: parent.clone(),
                    });
                };
                graph.update_edge(p, nodes[&job.id], ());
            }
        }
        let plan = Plan {
            entries,
            graph,
            nodes,
            names,
        };
        plan.order()?;
        Ok(plan)
    }

    /// Distinct jobs in a stable topological order (spec order among independent jobs).
    pub fn order(&self) -> Result<Vec<&Job>, PlanError> {
        let topo = petgraph::algo::toposort(&self.graph, None).map_err(|_| {
            let cycle = petgraph::algo::tarjan_scc(&self.graph)
                .into_iter()
                .find(|c| c.len() > 1)
                .unwrap_or_default();
            let mut names: Vec<String> = cycle
                .iter()
                .rev()
                .map(|n| self.names[&self.graph[*n]].clone())
                .collect();
            if let Some(first) = names.first().cloned() {
                names.push(first);
            }
            PlanError::Cycle { names }
        })?;
        let rank: HashMap<NodeIndex, usize> =
            topo.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut seen = HashSet::new();
        let mut jobs: Vec<(usize, usize, &Job)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, j)| seen.insert(j.id.clone()))
            .map(|(i, j)| (rank[&self.nodes[&j.id]], i, j))
            .collect();
        // Independent jobs have no constraint between them: keep the spec's order.
        if self.graph.edge_count() == 0 {
            jobs.sort_by_key(|(_, i, _)| *i);
        } else {
            jobs.sort_by_key(|(r, i, _)| (*r, *i));
        }
        Ok(jobs.into_iter().map(|(_, _, j)| j).collect())
    }

    /// Ids a job waits for.
    pub fn depends_on(&self, id: &str) -> Vec<JobId> {
        let Some(&n) = self.nodes.get(id) else {
            return Vec::new();
        };
        self.graph
            .neighbors_directed(n, petgraph::Direction::Incoming)
            .map(|d| self.graph[d].clone())
            .collect()
    }

    pub fn distinct_jobs(&self) -> usize {
        self.nodes.len()
    }

    /// The distinct job ids in dependency order (a job after the jobs it starts from).
    pub fn ids(&self) -> Vec<JobId> {
        self.order()
            .expect("checked when the plan was built")
            .iter()
            .map(|j| j.id.clone())
            .collect()
    }
}

/// `plan.json` and `sweep plan --json`: what a script needs to know about a sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    pub spec: String,
    pub scale: Option<String>,
    pub overrides: Vec<String>,
    pub jobs: Vec<PlannedJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedJob {
    pub id: JobId,
    pub row: String,
    pub variant: String,
    pub seed: u64,
    pub config: JobConfig,
    pub depends_on: Vec<JobId>,
    pub placement: Placement,
}

impl PlanFile {
    pub fn new(
        plan: &Plan,
        spec: &crate::spec::Spec,
        placements: &HashMap<JobId, Placement>,
    ) -> PlanFile {
        PlanFile {
            spec: spec.name.clone(),
            scale: spec.scale.clone(),
            overrides: spec.overrides.iter().map(|o| o.arg.clone()).collect(),
            jobs: plan
                .entries
                .iter()
                .map(|j| PlannedJob {
                    id: j.id.clone(),
                    row: j.row.clone(),
                    variant: j.variant.clone(),
                    seed: j.seed,
                    config: j.config.clone(),
                    depends_on: plan.depends_on(&j.id),
                    placement: placements
                        .get(&j.id)
                        .cloned()
                        .unwrap_or(Placement::Cpu { threads: 1 }),
                })
                .collect(),
        }
    }
}
