//! The dependency graph of cells: which cells a formula reads, evaluation order, cycles,
//! and the cells the outputs need. Every walk is iterative, so a chain of 100,000 cells
//! (`a1 = a0 + 1`, ...) needs no deeper stack than a chain of two.

/// Cells in an order where each comes after every cell it reads; on a cycle, `Err` with
/// the cells along it, in reading order.
pub(crate) fn topological_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    let mut order = Vec::with_capacity(deps.len());
    for root in 0..deps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        mark[root] = Mark::OnStack;
        while let Some(&mut (cell, ref mut next)) = stack.last_mut() {
            match deps[cell].get(*next) {
                Some(&dep) => {
                    *next += 1;
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::OnStack;
                            stack.push((dep, 0));
                        }
                        Mark::OnStack => {
                            let start = stack.iter().position(|&(c, _)| c == dep).unwrap_or(0);
                            return Err(stack[start..].iter().map(|&(c, _)| c).collect());
                        }
                        Mark::Done => {}
                    }
                }
                None => {
                    mark[cell] = Mark::Done;
                    order.push(cell);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}

/// The cells reachable from `roots` (the roots included), as a membership vector.
pub(crate) fn reachable(deps: &[Vec<usize>], roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
    let mut seen = vec![false; deps.len()];
    let mut stack: Vec<usize> = roots.into_iter().collect();
    while let Some(cell) = stack.pop() {
        if std::mem::replace(&mut seen[cell], true) {
            continue;
        }
        stack.extend(deps[cell].iter().copied().filter(|&d| !seen[d]));
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_finds_cycles() {
        let deps = vec![vec![1], vec![2], vec![]];
        assert_eq!(topological_order(&deps), Ok(vec![2, 1, 0]));
        let cyclic = vec![vec![1], vec![2], vec![0], vec![]];
        let mut cycle = topological_order(&cyclic).expect_err("cycle");
        cycle.sort();
        assert_eq!(cycle, vec![0, 1, 2]);
        assert_eq!(topological_order(&[vec![0]]), Err(vec![0]));
    }

    #[test]
    fn reachability() {
        let deps = vec![vec![1], vec![], vec![0]];
        assert_eq!(reachable(&deps, [0]), vec![true, true, false]);
    }
}
