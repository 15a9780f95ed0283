"""The one judge of `eval` and bench/methods.py: which figure decides, and within noise is no pass."""
from workbench.verdict import Verdict, judge, judge_evaluation, own_floors, rho_noise


def test_kNN_decides_an_image_run_and_a_tie_is_not_a_pass():
    assert judge(knn=0.85, random_knn=0.77) == Verdict(True, "kNN 85.0 % > 77.0 % (random init)")
    assert judge(knn=0.77, random_knn=0.77).beats is False


def test_a_measure_with_its_own_floor_decides_before_kNN():
    measures = {"test NLL (nats/image)": 138.1, "independent pixels NLL (nats/image)": 265.7}
    random = {"test NLL (nats/image)": 709.8, "independent pixels NLL (nats/image)": 265.7}
    v = judge(measures, random, knn=0.10, random_knn=0.90)  # a poor kNN does not overrule the likelihood
    assert v == Verdict(True, "test NLL (nats/image) 138.1 < 265.7 (independent pixels NLL (nats/image))")


def test_every_own_floor_must_be_beaten():
    measures = {"masked-word perplexity": 459.6, "unigram perplexity": 461.1,
                "masked-word accuracy": 0.0868, "most-frequent-word accuracy": 0.0868}
    random = {"masked-word perplexity": 1798.0, "unigram perplexity": 461.1,
              "masked-word accuracy": 0.01, "most-frequent-word accuracy": 0.0868}
    assert [p[2] for p in own_floors(measures, random)] == ["unigram perplexity", "most-frequent-word accuracy"]
    v = judge(measures, random, rho=0.9, random_rho=0.0, rho_pairs=1000)
    assert v.beats is False and "0.0868 ≤ 0.0868" in v.decided_by  # a high ρ does not rescue it


def test_rho_must_clear_its_noise_band():
    assert rho_noise(3) == float("inf")
    assert abs(rho_noise(60) - 0.26) < 0.005
    assert judge(rho=0.20, random_rho=0.05, rho_pairs=60).beats is None  # inside ±0.26: not a pass
    assert judge(rho=0.40, random_rho=0.05, rho_pairs=60).beats is True
    assert judge(rho=-0.30, random_rho=0.05, rho_pairs=60).beats is False
    assert judge(rho=0.20, random_rho=0.05, rho_pairs=1000).beats is True  # ±0.06 over 1,000 pairs
    assert judge() == Verdict(None, "no floor measured")


def test_judge_evaluation_reads_an_eval_result():
    text = {"model": {"wordsim353_rho": 0.0, "wordsim353_pairs": [60, 353]},
            "floor_random_init": {"wordsim353_rho": 0.07, "measures": {"context-word perplexity": 478.1,
                                                                       "unigram perplexity": 462.5}},
            "measures": {"context-word perplexity": 423.9, "unigram perplexity": 462.5}}
    assert judge_evaluation(text) == Verdict(True, "context-word perplexity 423.9 < 462.5 (unigram perplexity)")
    del text["measures"], text["floor_random_init"]["measures"]
    assert judge_evaluation(text).beats is None  # ρ within ±0.26 of random init over 60 pairs
    image = {"model": {"knn_top1": 0.7}, "floor_random_init": {"knn_top1": 0.8}}
    assert judge_evaluation(image).beats is False
