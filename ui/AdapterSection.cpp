#include "ui/AdapterSection.h"

#include "ui/FieldErrors.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include "common/UserRegex.h"
#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>

#include <cmath>
#include <regex>

namespace rslora::ui {
namespace {

using engine::InitMode;
using engine::Parameterization;
using engine::RankAllocation;
using engine::ScalingMode;

numbers::RealBox* doubleSpin(QWidget* parent, double lo, double hi, int decimals, double step) {
    return new numbers::RealBox(lo, hi, decimals, step, parent);
}

// More decoder layers than any model has: a range up to a number above it ("0-2000000000") is a
// typing slip, and expanding it would take the memory of the machine.
constexpr int kMaxLayerNumber = 100000;

// "0,2,4-7" → {0,2,4,5,6,7}; returns false on a malformed list (*tooHigh: a layer above kMaxLayerNumber).
bool parseLayers(const QString& text, std::vector<int>& out, bool* tooHigh = nullptr) {
    out.clear();
    if (tooHigh)
        *tooHigh = false;
    for (QString part : text.split(',', Qt::SkipEmptyParts)) {
        part = part.trimmed();
        bool ok1 = false, ok2 = false;
        if (part.contains('-')) {
            int a = part.section('-', 0, 0).trimmed().toInt(&ok1), b = part.section('-', 1, 1).trimmed().toInt(&ok2);
            if (!ok1 || !ok2 || a > b || a < 0)
                return false;
            if (b > kMaxLayerNumber) {
                if (tooHigh)
                    *tooHigh = true;
                return false;
            }
            for (int i = a; i <= b; ++i)
                out.push_back(i);
        } else {
            int a = part.toInt(&ok1);
            if (!ok1 || a < 0)
                return false;
            if (a > kMaxLayerNumber) {
                if (tooHigh)
                    *tooHigh = true;
                return false;
            }
            out.push_back(a);
        }
    }
    return true;
}

// One rank-pattern line: "regex = rank" or "regex = rank, alpha".
const QRegularExpression& rankRule() {
    static const QRegularExpression rule(R"(^\s*(.+?)\s*=\s*(-?\d+)\s*(?:,\s*(-?[0-9.eE+-]+))?\s*$)");
    return rule;
}

QString layersText(const std::vector<int>& layers) {
    QStringList parts;
    for (int l : layers)
        parts << QString::number(l);
    return parts.join(',');
}

// The method presets, by index of presetNames(): the options that make each method.
engine::AdapterConfig presetMethod(int index) {
    engine::AdapterConfig a;
    a.scaling = index == 0 ? ScalingMode::AlphaOverR : ScalingMode::AlphaOverSqrtR;
    a.init = index == 2 ? InitMode::Spectral : (index == 3 ? InitMode::Rescaled : InitMode::Lora);
    a.parameterization = index == 4 ? Parameterization::RandomSubspace : Parameterization::Full;
    a.balancing.enabled = index == 2;
    return a;
}

bool near(double x, double y) { return std::abs(x - y) <= 1e-9 * std::max(1.0, std::abs(x)); }

// Whether two adapters use the same method; options a method does not use are not compared.
bool sameMethod(const engine::AdapterConfig& x, const engine::AdapterConfig& y) {
    if (x.scaling != y.scaling || x.init != y.init || x.parameterization != y.parameterization || x.bias != y.bias ||
        x.balancing.enabled != y.balancing.enabled || !near(x.loraPlusRatio, y.loraPlusRatio) || x.allocation != y.allocation ||
        !x.rankPattern.empty() || !x.alphaPattern.empty())
        return false;
    if (x.init == InitMode::Rescaled && !near(x.initSigma, y.initSigma))
        return false;
    if (x.init == InitMode::Spectral && x.randomizedSvd != y.randomizedSvd)
        return false;
    if (x.parameterization == Parameterization::RandomSubspace && (x.subspaceDim != y.subspaceDim || x.projectionSeed != y.projectionSeed))
        return false;
    if (x.balancing.enabled && !(near(x.balancing.beta, y.balancing.beta) && near(x.balancing.band, y.balancing.band) &&
                                 near(x.balancing.target, y.balancing.target)))
        return false;
    return true;
}

} // namespace

QStringList AdapterSection::presetNames() {
    return {QObject::tr("LoRA (α/r, Kaiming init)"), QObject::tr("rsLoRA (α/√r scaling)"),
            QObject::tr("RS-LoRA A: spectral init + gradient balancing"), QObject::tr("RS-LoRA B: rescaled init σ/√r"),
            QObject::tr("RS-LoRA C: random subspace"), QObject::tr("Custom")};
}

AdapterSection::AdapterSection(FieldErrors* errors, QWidget* parent) : QGroupBox(tr("Adapter"), parent) {
    setObjectName("adapterSection");
    auto* form = new QFormLayout(this);

    m_preset = new QComboBox(this);
    m_preset->setObjectName("adapterPreset");
    m_preset->addItems(presetNames());
    m_preset->setToolTip(tr("Sets the method's options (scaling, initialisation, parameterization, balancing); rank, alpha and "
                            "dropout stay. It shows Custom while the options match no method."));
    form->addRow(tr("Method"), m_preset);

    // Wide on purpose: the engine's check names a rank the model cannot take (0, above a layer's size).
    m_rank = new numbers::IntBox(0, 9999999, this);
    errors->addRow(form, tr("Rank r"), m_rank, "adapter.r", tr("ΔW = s·B·A with A ∈ ℝ^{r×in}, B ∈ ℝ^{out×r}"));
    m_alpha = doubleSpin(this, 0.0, 100000, 2, 1);
    errors->addRow(form, tr("Alpha α"), m_alpha, "adapter.lora_alpha", tr("Numerator of the scale s (α/r or α/√r)"));
    m_scaling = new QComboBox(this);
    m_scaling->addItems({tr("α/r (LoRA)"), tr("α/√r (rank-stabilized)")});
    errors->addRow(form, tr("Scaling"), m_scaling, "adapter.scaling",
                   tr("s = α/r (Hu et al.) or s = α/√r (Kalajdzievski 2023: keeps the update's scale stable as r grows)"));
    m_scale = new QLabel(this);
    m_scale->setObjectName("scaleReadout");
    m_scale->setWordWrap(true);
    form->addRow(tr("Effective scale"), m_scale);

    m_init = new QComboBox(this);
    m_init->addItems({"lora", "gaussian", "rescaled", "spectral"});
    errors->addRow(form, tr("Initialisation"), m_init, "adapter.init",
                   tr("lora: A ~ U(−1/√in, 1/√in), B = 0\ngaussian: A ~ N(0, 1/r²), B = 0\nrescaled: A ~ N(0, σ²/r), B = 0\n"
                      "spectral: W ≈ U S Vᵀ; A = diag(√(S_r/s)) V_rᵀ, B = U_r diag(√(S_r/s)), base W − s·B·A (output unchanged at step 0)"));
    m_sigma = doubleSpin(this, 0.0, 10, 4, 0.005);
    errors->addRow(form, tr("σ (rescaled)"), m_sigma, "adapter.init_sigma", tr("rescaled init: A ~ N(0, σ²/r), so std(A) = σ/√r"));
    m_sigmaReadout = new QLabel(this);
    form->addRow(QString(), m_sigmaReadout);
    m_randomizedSvd = new QCheckBox(tr("Randomized SVD (large layers)"), this);
    errors->addRow(form, QString(), m_randomizedSvd, "adapter.randomized_svd", tr("spectral init through a randomized range finder instead of a full SVD"));

    m_dropout = doubleSpin(this, 0.0, 0.99, 3, 0.05);
    errors->addRow(form, tr("Dropout"), m_dropout, "adapter.lora_dropout", tr("y = x Wᵀ + s·(drop(x) Aᵀ) Bᵀ"));
    m_bias = new QComboBox(this);
    m_bias->addItems({"none", "lora_only"});
    errors->addRow(form, tr("Bias"), m_bias, "adapter.bias", tr("none: biases frozen; lora_only: biases of adapted layers are trained"));

    m_parameterization = new QComboBox(this);
    m_parameterization->addItems({"full", "random_subspace"});
    errors->addRow(form, tr("Parameterization"), m_parameterization, "adapter.parameterization",
                   tr("full: A and B trained\nrandom_subspace: A = Σⱼ aⱼ Pᴬⱼ, B = Σⱼ bⱼ Pᴮⱼ over k frozen seeded bases; only 2k scalars per module train"));
    m_subspaceDim = new numbers::IntBox(1, 4096, this);
    errors->addRow(form, tr("Subspace k"), m_subspaceDim, "adapter.subspace_dim", tr("Number of frozen random bases per factor"));
    m_projectionSeed = new numbers::IntBox(0, 2147483647, this);
    errors->addRow(form, tr("Projection seed"), m_projectionSeed, "adapter.projection_seed",
                   tr("Bases are regenerated from this seed (never stored); use a different seed per task to isolate tasks"));

    m_balance = new QCheckBox(tr("Balance A/B gradients"), this);
    errors->addRow(form, QString(), m_balance, "adapter.balance_gradients",
                   tr("ρ = ‖∇A‖/‖∇B‖ per module, ρ̄ its EMA; when ρ̄ leaves [κ/τ, κ·τ] the dominant side's gradient is rescaled toward the band"));
    m_balanceBeta = doubleSpin(this, 0.0, 0.9999, 4, 0.01);
    errors->addRow(form, tr("Balance β"), m_balanceBeta, "adapter.balance_beta", tr("EMA factor: ρ̄ ← β ρ̄ + (1 − β) ρ"));
    m_balanceBand = doubleSpin(this, 1.0, 1000, 2, 0.5);
    errors->addRow(form, tr("Band τ"), m_balanceBand, "adapter.balance_band", tr("Allowed band [κ/τ, κ·τ]"));
    m_balanceTarget = doubleSpin(this, 0.0, 1000, 3, 0.1);
    errors->addRow(form, tr("Target κ"), m_balanceTarget, "adapter.balance_target", tr("Ratio the balancing steers toward"));

    m_loraPlus = doubleSpin(this, 0.0, 1000, 2, 1);
    errors->addRow(form, tr("LoRA+ ratio λ"), m_loraPlus, "adapter.loraplus_lr_ratio", tr("lr(B) = λ · lr(A) (Hayou et al. 2024); 1 = off"));

    m_allocation = new QComboBox(this);
    m_allocation->addItems({"uniform", "pattern", "sensitivity"});
    errors->addRow(form, tr("Rank allocation"), m_allocation, "adapter.rank_allocation",
                   tr("uniform: r everywhere\npattern: regex → rank[, alpha] per line\n"
                      "sensitivity: probe batches score modules by |W ⊙ ∇W| (EMA) and split the parameter budget into ranks"));
    m_pattern = new QPlainTextEdit(this);
    m_pattern->setPlaceholderText("q_proj = 16\nlayers\\.0\\.self_attn\\.v_proj = 32, 64");
    m_pattern->setMaximumHeight(70);
    errors->addRow(form, tr("Rank pattern"), m_pattern, "adapter.rank_pattern", tr("One rule per line: regex = rank or regex = rank, alpha. As in PEFT, a regex matches the end of a module's full name "
                      "from a dot (q_proj, self_attn\\..*); a module two rules match with different values is refused"));
    errors->addAlias("adapter.alpha_pattern", "adapter.rank_pattern"); // the alphas are typed in the same lines
    m_probeBatches = new numbers::IntBox(1, 1000, this);
    errors->addRow(form, tr("Probe batches"), m_probeBatches, "adapter.sensitivity_probe_batches", tr("Batches used to score module sensitivity"));
    m_candidates = new QLineEdit(this);
    errors->addRow(form, tr("Candidate ranks"), m_candidates, "adapter.sensitivity_candidate_ranks", tr("Comma-separated ranks the allocation may choose"));
    m_budget = new QLineEdit(this);
    m_budget->setPlaceholderText(tr("0 = as uniform r"));
    errors->addRow(form, tr("Parameter budget"), m_budget, "adapter.parameter_budget", tr("Total adapter parameters to distribute; 0 = the count of uniform rank r"));
    m_previewRanks = new QPushButton(tr("Preview rank table"), this);
    m_previewRanks->setObjectName("previewRanks");
    form->addRow(QString(), m_previewRanks);
    m_rankTable = new QLabel(this);
    m_rankTable->setObjectName("rankTable");
    m_rankTable->setTextFormat(Qt::RichText);
    m_rankTable->hide();
    form->addRow(m_rankTable);

    m_targetsBox = new QWidget(this);
    new QGridLayout(m_targetsBox);
    m_targetsBox->layout()->setContentsMargins(0, 0, 0, 0);
    errors->addRow(form, tr("Target modules"), m_targetsBox, "adapter.target_modules", tr("Projections that receive an adapter"));
    m_targetRegex = new QLineEdit(this);
    m_targetRegex->setPlaceholderText(tr("optional: regex over full module names (overrides the boxes)"));
    errors->addRow(form, tr("Target regex"), m_targetRegex, "adapter.target_regex", tr("A module is adapted when the regex matches its full name, e.g. .*layers\\.[0-3]\\..*(q|v)_proj"));
    m_layers = new QLineEdit(this);
    m_layers->setPlaceholderText(tr("all layers (e.g. 0,1,4-7)"));
    errors->addRow(form, tr("Layers"), m_layers, "adapter.layers_to_transform", tr("Only these decoder layers get adapters"));
    m_trainable = new QLabel(this);
    m_trainable->setObjectName("trainableReadout");
    m_trainable->setWordWrap(true); // one long line set the form's width above a 1024-pixel window
    form->addRow(tr("Trainable"), m_trainable);

    setModules({});
    load(engine::TrainConfig{});

    connect(m_preset, qOverload<int>(&QComboBox::activated), this, [this](int index) {
        if (index < presetNames().size() - 1)
            applyPreset(index);
        else
            showMatchingPreset(); // "Custom" itself changes nothing
    });
    auto onEdit = [this] {
        if (m_loading)
            return;
        showMatchingPreset();
        updateEnabled();
        updateReadouts();
        Q_EMIT changed();
    };
    for (QSpinBox* s : {m_rank, m_subspaceDim, m_projectionSeed, m_probeBatches})
        connect(s, qOverload<int>(&QSpinBox::valueChanged), this, onEdit);
    for (QDoubleSpinBox* s : {m_alpha, m_sigma, m_dropout, m_balanceBeta, m_balanceBand, m_balanceTarget, m_loraPlus})
        connect(s, qOverload<double>(&QDoubleSpinBox::valueChanged), this, onEdit);
    for (QComboBox* c : {m_scaling, m_init, m_bias, m_parameterization, m_allocation})
        connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, onEdit);
    for (QCheckBox* c : {m_balance, m_randomizedSvd})
        connect(c, &QCheckBox::toggled, this, onEdit);
    for (QLineEdit* e : {m_candidates, m_budget, m_targetRegex, m_layers})
        connect(e, &QLineEdit::textChanged, this, onEdit);
    connect(m_pattern, &QPlainTextEdit::textChanged, this, onEdit);
    // Text a box cannot take leaves its value() at the last good number: the readouts say so at once.
    connect(m_rank, &numbers::IntBox::entryChanged, this, &AdapterSection::updateReadouts);
    connect(m_subspaceDim, &numbers::IntBox::entryChanged, this, &AdapterSection::updateReadouts);
    connect(m_sigma, &numbers::RealBox::entryChanged, this, &AdapterSection::updateReadouts);
    connect(m_alpha, &numbers::RealBox::entryChanged, this, [this] { m_scale->setText(scaleReadout()); });
    connect(m_previewRanks, &QPushButton::clicked, this, &AdapterSection::rankPreviewRequested);
}

void AdapterSection::setModules(const std::vector<models::ModuleShape>& modules) {
    m_modules = modules;
    QStringList ticked;
    for (auto it = m_targets.constBegin(); it != m_targets.constEnd(); ++it)
        if (it.value()->isChecked())
            ticked << it.key();
    qDeleteAll(m_targets);
    m_targets.clear();
    QStringList names;
    for (const auto& m : modules)
        if (!names.contains(QString::fromStdString(m.shortName)))
            names << QString::fromStdString(m.shortName);
    if (names.isEmpty())
        for (const auto& n : engine::llamaProjectionNames())
            names << QString::fromStdString(n);
    auto* grid = static_cast<QGridLayout*>(m_targetsBox->layout());
    for (int i = 0; i < names.size(); ++i) {
        auto* box = new QCheckBox(names[i], m_targetsBox);
        box->setObjectName("target_" + names[i]);
        box->setChecked(ticked.isEmpty() ? (names[i] == "q_proj" || names[i] == "v_proj") : ticked.contains(names[i]));
        grid->addWidget(box, i / 4, i % 4);
        m_targets.insert(names[i], box);
        connect(box, &QCheckBox::toggled, this, [this] {
            updateReadouts();
            Q_EMIT changed();
        });
    }
    updateReadouts();
}

void AdapterSection::applyPreset(int index) {
    loadMethod(presetMethod(index));
    showMatchingPreset();
    Q_EMIT changed();
}

void AdapterSection::loadMethod(const engine::AdapterConfig& a) {
    m_loading = true;
    m_scaling->setCurrentIndex(a.scaling == ScalingMode::AlphaOverSqrtR ? 1 : 0);
    m_init->setCurrentIndex(static_cast<int>(a.init));
    m_sigma->setValue(a.initSigma);
    m_randomizedSvd->setChecked(a.randomizedSvd);
    m_bias->setCurrentIndex(a.bias == engine::BiasMode::LoraOnly ? 1 : 0);
    m_parameterization->setCurrentIndex(a.parameterization == Parameterization::RandomSubspace ? 1 : 0);
    m_subspaceDim->setValue(a.subspaceDim);
    m_projectionSeed->setValue(static_cast<int>(a.projectionSeed));
    m_balance->setChecked(a.balancing.enabled);
    m_balanceBeta->setValue(a.balancing.beta);
    m_balanceBand->setValue(a.balancing.band);
    m_balanceTarget->setValue(a.balancing.target);
    m_loraPlus->setValue(a.loraPlusRatio);
    m_allocation->setCurrentIndex(static_cast<int>(a.allocation));
    QStringList lines;
    for (const auto& [p, r] : a.rankPattern) {
        QString line = QString::fromStdString(p) + " = " + QString::number(r);
        for (const auto& [pa, al] : a.alphaPattern)
            if (pa == p)
                line += ", " + QString::number(al);
        lines << line;
    }
    m_pattern->setPlainText(lines.join('\n'));
    m_probeBatches->setValue(a.sensitivity.probeBatches);
    QStringList c;
    for (int r : a.sensitivity.candidateRanks)
        c << QString::number(r);
    m_candidates->setText(c.join(", "));
    m_budget->setText(QString::number(a.sensitivity.parameterBudget));
    m_loading = false;
    updateEnabled();
    updateReadouts();
}

int AdapterSection::matchingPreset() const {
    engine::TrainConfig c;
    store(c);
    for (int i = 0; i + 1 < presetNames().size(); ++i)
        if (sameMethod(c.adapter, presetMethod(i)))
            return i;
    return presetNames().size() - 1;
}

void AdapterSection::showMatchingPreset() { m_preset->setCurrentIndex(matchingPreset()); }

QStringList AdapterSection::problems() const {
    QStringList out;
    std::vector<int> layers;
    bool tooHigh = false;
    if (!parseLayers(m_layers->text(), layers, &tooHigh))
        out << (tooHigh ? tr("adapter.layers_to_transform: '%1' names a layer above %2, more than any model has (write the layers "
                             "of this model, e.g. 0,1,4-7)").arg(m_layers->text()).arg(kMaxLayerNumber)
                        : tr("adapter.layers_to_transform: '%1' is not a list of layer numbers (write e.g. 0,1,4-7)").arg(m_layers->text()));
    for (const QString& s : m_candidates->text().split(',', Qt::SkipEmptyParts)) {
        bool ok = false;
        s.trimmed().toInt(&ok);
        if (!ok)
            out << tr("adapter.sensitivity_candidate_ranks: '%1' is not a whole number").arg(s.trimmed());
    }
    bool ok = false;
    const QString budget = m_budget->text().trimmed();
    budget.toLongLong(&ok);
    if (!budget.isEmpty() && !ok)
        out << tr("adapter.parameter_budget: '%1' is not a whole number").arg(m_budget->text());
    const QStringList lines = m_pattern->toPlainText().split('\n');
    for (int i = 0; i < lines.size(); ++i) {
        if (lines[i].trimmed().isEmpty())
            continue;
        const auto m = rankRule().match(lines[i]);
        if (!m.hasMatch()) {
            out << tr("adapter.rank_pattern line %1: '%2' is not 'regex = rank' or 'regex = rank, alpha'").arg(i + 1).arg(lines[i]);
            continue;
        }
        // Numbers are named as typed: the config holds 0 for "00" and 0.0 for "0".
        bool rankOk = false;
        if (m.captured(2).toInt(&rankOk) < 1 || !rankOk)
            out << tr("adapter.rank_pattern line %1: the rank must be a whole number >= 1, found '%2'").arg(i + 1).arg(m.captured(2));
        if (const QString alpha = m.captured(3); !alpha.isEmpty()) {
            bool alphaOk = false;
            const double value = alpha.toDouble(&alphaOk);
            if (!alphaOk || !std::isfinite(value))
                out << tr("adapter.alpha_pattern line %1: alpha '%2' is not a finite number").arg(i + 1).arg(alpha);
            else if (value <= 0)
                out << tr("adapter.alpha_pattern line %1: alpha must be > 0, found '%2'").arg(i + 1).arg(alpha);
        }
    }
    return out;
}

void AdapterSection::updateEnabled() {
    m_sigma->setEnabled(m_init->currentIndex() == 2);
    m_randomizedSvd->setEnabled(m_init->currentIndex() == 3);
    const bool subspace = m_parameterization->currentIndex() == 1;
    m_subspaceDim->setEnabled(subspace);
    m_projectionSeed->setEnabled(subspace);
    for (QDoubleSpinBox* s : {m_balanceBeta, m_balanceBand, m_balanceTarget})
        s->setEnabled(m_balance->isChecked());
    const int alloc = m_allocation->currentIndex();
    m_pattern->setEnabled(alloc == 1);
    m_probeBatches->setEnabled(alloc == 2);
    m_candidates->setEnabled(alloc == 2);
    m_budget->setEnabled(alloc == 2);
    m_previewRanks->setEnabled(alloc == 2);
}

QString AdapterSection::scaleReadout() const {
    // A rank or alpha the field cannot take leaves value() at the last good one: no scale from it.
    if (m_rank->holdsEntry() || m_alpha->holdsEntry())
        return tr("enter a valid rank and alpha to see the scale");
    const double r = m_rank->value(), a = m_alpha->value();
    if (r < 1)
        return tr("rank must be at least 1");
    const bool sqrtMode = m_scaling->currentIndex() == 1;
    return tr("α/r = %1   ·   α/√r = %2   →   s = %3")
        .arg(a / r, 0, 'f', 4)
        .arg(a / std::sqrt(r), 0, 'f', 4)
        .arg(sqrtMode ? a / std::sqrt(r) : a / r, 0, 'f', 4);
}

qint64 AdapterSection::trainableParameters() const {
    engine::TrainConfig c;
    store(c);
    const auto& a = c.adapter;
    std::optional<std::regex> re;
    try {
        // Through the same guard as the engine: a pattern std::regex cannot take safely (too long,
        // or a count beyond a long) counts nothing here and is named by validation.
        if (!a.targetRegex.empty())
            re.emplace(userRegex(a.targetRegex));
    } catch (const std::regex_error&) {
        return 0;
    }
    qint64 total = 0;
    for (const auto& m : m_modules) {
        bool targeted = re ? std::regex_match(m.name, *re)
                           : std::find(a.targetModules.begin(), a.targetModules.end(), m.shortName) != a.targetModules.end();
        if (targeted && !a.layersToTransform.empty())
            targeted = std::find(a.layersToTransform.begin(), a.layersToTransform.end(), m.layer) != a.layersToTransform.end();
        if (!targeted)
            continue;
        int r = a.rank;
        for (const auto& [pattern, pr] : a.rankPattern) {
            try {
                if (std::regex_search(m.name, std::regex(pattern))) {
                    r = pr;
                    break;
                }
            } catch (const std::regex_error&) {
            }
        }
        total += a.parameterization == Parameterization::RandomSubspace ? 2 * a.subspaceDim : qint64(r) * (m.inFeatures + m.outFeatures);
        if (a.bias == engine::BiasMode::LoraOnly && m.hasBias)
            total += m.outFeatures;
    }
    return total;
}

void AdapterSection::updateReadouts() {
    m_scale->setText(scaleReadout());
    const double sigma = m_sigma->value(), r = m_rank->value();
    // As for the scale: a rank (or σ, or subspace k) as typed that the box cannot take gives no
    // number here; the last good one would read as the count of what was typed.
    m_sigmaReadout->setText(m_rank->holdsEntry() || m_sigma->holdsEntry()
                                ? tr("enter a valid rank and σ to see std(A) at init")
                                : tr("std(A) at init = σ/√r = %1").arg(sigma / std::sqrt(std::max(1.0, r)), 0, 'g', 4));
    m_sigmaReadout->setVisible(m_init->currentIndex() == 2);
    if (m_modules.empty()) {
        m_trainable->setText(tr("choose a model to count parameters"));
        return;
    }
    if (m_rank->holdsEntry() || (m_subspaceDim->isEnabled() && m_subspaceDim->holdsEntry())) {
        m_trainable->setText(m_rank->holdsEntry() ? tr("enter a valid rank to count parameters")
                                                  : tr("enter a valid subspace k to count parameters"));
        return;
    }
    qint64 total = 0;
    for (const auto& m : m_modules)
        total += m.inFeatures * m.outFeatures;
    const qint64 n = trainableParameters();
    m_trainable->setText(tr("%1 adapter parameters (%2% of the adapted projections' %3)")
                             .arg(QLocale().toString(n))
                             .arg(total > 0 ? 100.0 * n / total : 0.0, 0, 'f', 3)
                             .arg(QLocale().toString(total)));
}

void AdapterSection::showRankTable(const QString& html) {
    m_rankTable->setText(html);
    m_rankTable->setVisible(!html.isEmpty());
}

void AdapterSection::load(const engine::TrainConfig& config) {
    const auto& a = config.adapter;
    loadMethod(a);
    m_loading = true;
    m_rank->setValue(a.rank);
    m_alpha->setValue(a.alpha);
    m_dropout->setValue(a.dropout);
    m_targetRegex->setText(QString::fromStdString(a.targetRegex));
    m_layers->setText(layersText(a.layersToTransform));
    const bool all = std::find(a.targetModules.begin(), a.targetModules.end(), "all-linear") != a.targetModules.end();
    for (auto it = m_targets.begin(); it != m_targets.end(); ++it)
        it.value()->setChecked(all || std::find(a.targetModules.begin(), a.targetModules.end(), it.key().toStdString()) != a.targetModules.end());
    m_loading = false;
    showMatchingPreset();
    updateEnabled();
    updateReadouts();
}

void AdapterSection::store(engine::TrainConfig& config) const {
    auto& a = config.adapter;
    a.rank = m_rank->value();
    a.alpha = m_alpha->value();
    a.scaling = m_scaling->currentIndex() == 1 ? ScalingMode::AlphaOverSqrtR : ScalingMode::AlphaOverR;
    a.init = static_cast<InitMode>(m_init->currentIndex());
    a.initSigma = m_sigma->value();
    a.randomizedSvd = m_randomizedSvd->isChecked();
    a.dropout = m_dropout->value();
    a.bias = m_bias->currentIndex() == 1 ? engine::BiasMode::LoraOnly : engine::BiasMode::None;
    a.parameterization = m_parameterization->currentIndex() == 1 ? Parameterization::RandomSubspace : Parameterization::Full;
    a.subspaceDim = m_subspaceDim->value();
    a.projectionSeed = static_cast<uint64_t>(m_projectionSeed->value());
    a.balancing.enabled = m_balance->isChecked();
    a.balancing.beta = m_balanceBeta->value();
    a.balancing.band = m_balanceBand->value();
    a.balancing.target = m_balanceTarget->value();
    a.loraPlusRatio = m_loraPlus->value();
    a.allocation = static_cast<RankAllocation>(m_allocation->currentIndex());
    a.rankPattern.clear();
    a.alphaPattern.clear();
    for (const QString& line : m_pattern->toPlainText().split('\n', Qt::SkipEmptyParts)) {
        auto m = rankRule().match(line);
        if (!m.hasMatch()) {
            // Kept with rank 0 so validation names the line next to the field.
            a.rankPattern.emplace_back(line.trimmed().toStdString(), 0);
            continue;
        }
        a.rankPattern.emplace_back(m.captured(1).toStdString(), m.captured(2).toInt());
        if (!m.captured(3).isEmpty())
            a.alphaPattern.emplace_back(m.captured(1).toStdString(), m.captured(3).toDouble());
    }
    a.sensitivity.probeBatches = m_probeBatches->value();
    a.sensitivity.candidateRanks.clear();
    for (const QString& s : m_candidates->text().split(',', Qt::SkipEmptyParts)) {
        bool ok = false;
        int r = s.trimmed().toInt(&ok);
        a.sensitivity.candidateRanks.push_back(ok ? r : 0);
    }
    bool ok = false;
    qint64 budget = m_budget->text().trimmed().toLongLong(&ok);
    a.sensitivity.parameterBudget = ok ? budget : (m_budget->text().trimmed().isEmpty() ? 0 : -1);
    a.targetRegex = m_targetRegex->text().trimmed().toStdString();
    a.targetModules.clear();
    for (auto it = m_targets.constBegin(); it != m_targets.constEnd(); ++it)
        if (it.value()->isChecked())
            a.targetModules.push_back(it.key().toStdString());
    std::sort(a.targetModules.begin(), a.targetModules.end(), [](const std::string& x, const std::string& y) {
        const auto& order = engine::llamaProjectionNames();
        return std::find(order.begin(), order.end(), x) < std::find(order.begin(), order.end(), y);
    });
    if (!parseLayers(m_layers->text(), a.layersToTransform))
        a.layersToTransform = {-1}; // reported by validation as an invalid layer
}

} // namespace rslora::ui
