// SampleBuilder reading whole files (or their first maxRecords records): every record of a JSONL or
// JSON array file built on worker threads, results and errors reported in line order (see
// SampleBuilder.h).
#include "models/data/SampleBuilder.h"
#include "models/data/JsonlHead.h"

#include "common/Error.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace rslora::models {

template <typename Sample>
void SampleBuilder::loadRecords(const std::filesystem::path& file, bool preference, std::vector<Sample>& samples,
                                std::vector<std::size_t>& lines, BuildStats& stats,
                                const std::function<bool(const JsonRecord&, Sample&, BuildStats&)>& build) const {
    auto problem = [&](const std::string& message) {
        ++stats.skipped;
        if (stats.problems.size() < 20)
            stats.problems.push_back(message);
    };
    // Malformed lines are collected in order with the records, so that whichever bad line comes first
    // is the one reported.
    std::vector<JsonRecord> records;
    std::vector<std::string> readErrors;
    stats.moreRecords = JsonlHead::read(
        file, m_options.maxRecords,
        [&](const JsonRecord& r) {
            records.push_back(r);
            readErrors.emplace_back();
        },
        [&](std::size_t, const std::string& message) {
            records.emplace_back();
            readErrors.push_back(message);
        });
    stats.records = records.size();
    // Formats, in line order: the first record fixes the dataset's format.
    struct Slot {
        Sample sample;
        BuildStats stats;
        bool keep = false;
        std::string error;
        std::string hint;
    };
    std::vector<Slot> slots(records.size());
    std::vector<std::size_t> usable;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const JsonRecord& r = records[i];
        if (!readErrors[i].empty()) {
            slots[i].error = readErrors[i];
            continue;
        }
        try {
            if (preference) {
                if (detectFormat(r.value) != SampleFormat::Preference) {
                    std::string missing;
                    for (const char* key : {"chosen", "rejected"})
                        if (!r.value.contains(key))
                            missing += std::string(missing.empty() ? "" : " and ") + "\"" + key + "\"";
                    throw Error(r.where + ": expected a preference record with prompt, chosen and rejected; this one has no " + missing);
                }
            } else {
                const SampleFormat f = resolveFormat(r.value, r.where);
                if (stats.format == SampleFormat::Auto)
                    stats.format = f;
                else if (m_options.format == SampleFormat::Auto && f != stats.format)
                    throw Error(r.where + ": record of format " + sampleFormatName(f) + " in a " +
                                sampleFormatName(stats.format) + " dataset");
            }
            usable.push_back(i);
        } catch (const Error& e) {
            slots[i].error = e.what();
            slots[i].hint = e.hint();
        }
    }

    // Build on worker threads; every slot gets a sample, a drop, or an error message.
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t k = next++; k < usable.size(); k = next++) {
            Slot& slot = slots[usable[k]];
            try {
                slot.keep = build(records[usable[k]], slot.sample, slot.stats);
            } catch (const Error& e) {
                slot.error = e.what();
                slot.hint = e.hint();
            } catch (const std::exception& e) {
                slot.error = e.what();
                if (slot.error.empty())
                    slot.error = records[usable[k]].where + ": failed";
            }
        }
    };
    unsigned threads = m_options.threads ? m_options.threads : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, usable.size() / 16 + 1));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
        pool.emplace_back(work);
    work();
    for (auto& t : pool)
        t.join();

    // Results and errors in line order: with MalformedLinePolicy::Fail the first bad line is reported,
    // with how many records are refused in all (the first is rarely the only one).
    for (std::size_t i = 0; i < slots.size(); ++i) {
        Slot& slot = slots[i];
        if (!slot.error.empty()) {
            if (m_options.malformed == MalformedLinePolicy::Fail) {
                const auto refused = std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return !s.error.empty(); });
                throw Error(slot.error + (refused > 1 ? "; " + std::to_string(refused) + " of " + std::to_string(slots.size())
                                                            + " records in " + file.string() + " are refused"
                                                      : std::string()),
                            slot.hint);
            }
            problem(slot.error);
            continue;
        }
        if (slot.stats.droppedWithoutTargets > 0 && stats.firstDropped.empty())
            stats.firstDropped = records[i].where;
        stats.truncatedSamples += slot.stats.truncatedSamples;
        stats.truncatedTokens += slot.stats.truncatedTokens;
        stats.droppedWithoutTargets += slot.stats.droppedWithoutTargets;
        stats.totalTokens += slot.stats.totalTokens;
        stats.trainedTokens += slot.stats.trainedTokens;
        if (slot.keep) {
            samples.push_back(std::move(slot.sample));
            lines.push_back(records[i].line);
        }
    }
    stats.samples = samples.size();
}

SftDataset SampleBuilder::loadSft(const std::filesystem::path& file) const {
    SftDataset d;
    d.stats.format = m_options.format;
    loadRecords<TokenizedSample>(file, false, d.samples, d.lines, d.stats,
                                 [this](const JsonRecord& r, TokenizedSample& s, BuildStats& st) {
                                     std::size_t cut = 0;
                                     s = buildSft(r.value, r.where, &cut);
                                     if (cut) {
                                         ++st.truncatedSamples;
                                         st.truncatedTokens += cut;
                                     }
                                     const auto trained = static_cast<std::size_t>(std::count_if(
                                         s.labels.begin(), s.labels.end(), [](int64_t l) { return l != kIgnoreIndex; }));
                                     if (trained == 0 && m_options.dropSamplesWithoutTargets) {
                                         ++st.droppedWithoutTargets;
                                         return false;
                                     }
                                     st.totalTokens += s.ids.size();
                                     st.trainedTokens += trained;
                                     return true;
                                 });
    if (d.samples.empty())
        throw Error(file.string() + ": no usable samples (" + d.stats.summary() + ")" +
                    (d.stats.problems.empty() ? std::string() : "; first problem: " + d.stats.problems.front()));
    return d;
}

PreferenceDataset SampleBuilder::loadPreferences(const std::filesystem::path& file) const {
    PreferenceDataset d;
    d.stats.format = SampleFormat::Preference;
    loadRecords<PreferenceSample>(file, true, d.samples, d.lines, d.stats,
                                  [this](const JsonRecord& r, PreferenceSample& s, BuildStats& st) {
                                      std::size_t cut = 0;
                                      s = buildPreference(r.value, r.where, &cut);
                                      if (cut) {
                                          ++st.truncatedSamples;
                                          st.truncatedTokens += cut;
                                      }
                                      if (s.chosen.empty() || s.rejected.empty()) {
                                          ++st.droppedWithoutTargets;
                                          return false;
                                      }
                                      st.totalTokens += s.prompt.size() * 2 + s.chosen.size() + s.rejected.size();
                                      st.trainedTokens += s.chosen.size() + s.rejected.size();
                                      return true;
                                  });
    if (d.samples.empty())
        throw Error(file.string() + ": no usable preference pairs (" + d.stats.summary() + ")" +
                    (d.stats.problems.empty() ? std::string() : "; first problem: " + d.stats.problems.front()));
    return d;
}

} // namespace rslora::models
