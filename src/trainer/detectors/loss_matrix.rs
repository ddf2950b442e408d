//! The loss configurations every torchvision-layout head is trained with in its tests.

use crate::spec::config::{ClsLossSpec, CouplingSpec, HarmonicCls, IouForm, RegLossSpec, UgsSpec};
use crate::trainer::objective::Terms;

/// Every classification loss with every plain regression loss, then UGS (λ only, and full
/// with UR) and the harmonic coupling in both compositions.
pub fn every_loss() -> Vec<(ClsLossSpec, RegLossSpec, Option<CouplingSpec>)> {
    let cls = [
        ClsLossSpec::Focal {
            alpha: 0.25,
            gamma: 2.0,
        },
        ClsLossSpec::CeOhem { neg_pos_ratio: 3.0 },
        ClsLossSpec::Auc {
            delta: 1.0,
            minibatch: true,
        },
        ClsLossSpec::Ap {
            delta: 1.0,
            interpolate: true,
            minibatch: true,
        },
    ];
    let reg = [
        RegLossSpec::L1,
        RegLossSpec::SmoothL1 { beta: 1.0 / 9.0 },
        RegLossSpec::l2(),
        RegLossSpec::Iou { form: IouForm::Log },
        RegLossSpec::Giou,
        RegLossSpec::Diou,
        RegLossSpec::Ciou,
        RegLossSpec::Hiou { gamma: 0.5 },
    ];
    let mut v: Vec<_> = cls
        .iter()
        .flat_map(|c| reg.iter().map(|r| (c.clone(), r.clone(), None)))
        .collect();
    let harmonic = Some(CouplingSpec::Harmonic {
        detach: false,
        cls: HarmonicCls::Focal,
    });
    v.push((cls[0].clone(), RegLossSpec::Giou, harmonic.clone()));
    v.push((cls[0].clone(), RegLossSpec::Hiou { gamma: 0.5 }, harmonic));
    v.push((
        cls[1].clone(),
        RegLossSpec::L1,
        Some(CouplingSpec::Harmonic {
            detach: false,
            cls: HarmonicCls::Paper,
        }),
    ));
    for (lambda, gamma) in [(0.5, 0.0), (0.5, 0.1)] {
        let ugs = UgsSpec {
            in_labels: true,
            lambda,
            gamma,
            rho: 0.5,
            ..UgsSpec::default()
        };
        v.push((cls[0].clone(), RegLossSpec::Ugs(ugs), None));
    }
    v
}

/// UGS's logged parts are finite, and `L^ur` is positive exactly when γ > 0.
pub fn check_ugs_terms(terms: &Terms, reg: &RegLossSpec, what: &str) {
    let RegLossSpec::Ugs(u) = reg else {
        assert!(terms.ugs.is_none(), "{what}");
        return;
    };
    let [ce, um, ur] = terms.ugs.as_ref().expect("UGS logs its parts").each_ref();
    let [ce, um, ur] = [ce, um, ur].map(|t| t.double_value(&[]));
    assert!(
        ce > 0.0 && um > 0.0 && ur.is_finite(),
        "{what}: {ce} {um} {ur}"
    );
    assert_eq!(ur > 0.0, u.gamma > 0.0, "{what}: L^ur {ur}");
}
